"""Settings of upstream's matrix app, written again (make compare's
reference for the matrix; not part of the service).

Upstream (django-sqlite-dblock) is a startproject project with one app,
basic_model, and Django's SQLite settings but for a 30 s timeout. Three
environment variables choose what is measured:

    COMPARE_DB_PATH         the SQLite file (every run gets a fresh one)
    COMPARE_DATABASE_URL    postgres://USER:PASSWORD@HOST:PORT/NAME instead
                            (upstream's commented-out PostgreSQL setting)
    COMPARE_DJANGO_SQLITE   "default": Django's SQLite backend (the failure);
                            "workaround": WAL, synchronous=NORMAL and BEGIN
                            EXCLUSIVE (sqlite_workaround/base.py)

What differs from upstream, and why (shared_settings.py): DEBUG is off
(DEBUG keeps every query and renders an HTML page for each 500, which would
cost the failures more than the error), so django.request's errors go to
stderr, as DEBUG's console handler would send them: gunicorn's error log
then holds Django's own "Internal Server Error" lines and tracebacks; no
admin, static files or templates (nothing here serves them).
"""

import os
from urllib.parse import unquote, urlsplit

SQLITE_SETUP = os.environ.get("COMPARE_DJANGO_SQLITE", "default")
if SQLITE_SETUP not in ("default", "workaround"):
    raise RuntimeError(f"COMPARE_DJANGO_SQLITE={SQLITE_SETUP!r}: expected default or workaround")


def _postgres(url):
    u = urlsplit(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise RuntimeError("COMPARE_DATABASE_URL: expected postgres://USER:PASSWORD@HOST:PORT/NAME")
    return {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"),
            "USER": unquote(u.username or ""), "PASSWORD": unquote(u.password or ""),
            "HOST": u.hostname or "", "PORT": str(u.port or "")}


def _sqlite(path):
    if not path:
        raise RuntimeError("COMPARE_DB_PATH (or COMPARE_DATABASE_URL) is required")
    engine = ("django.db.backends.sqlite3" if SQLITE_SETUP == "default"
              else "matrixapp.sqlite_workaround")
    # Upstream's only change to Django's SQLite settings: Python's sqlite3
    # waits 5 s for a lock by default, upstream 30 s.
    return {"ENGINE": engine, "NAME": path, "OPTIONS": {"timeout": 30}}


_url = os.environ.get("COMPARE_DATABASE_URL")
DATABASES = {"default": _postgres(_url) if _url else _sqlite(os.environ.get("COMPARE_DB_PATH"))}

# DEBUG off, loopback hosts, a throwaway key, django.request's errors on stderr.
from shared_settings import (  # noqa: E402,F401  (Django reads them from here)
    ALLOWED_HOSTS, DEBUG, LOGGING, SECRET_KEY, TIME_ZONE, USE_TZ)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "basic_model",
]
# startproject's middleware, as upstream keeps it: each request pays for it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "matrixapp.urls"
WSGI_APPLICATION = "matrixapp.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
