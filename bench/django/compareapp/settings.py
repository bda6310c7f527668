"""Settings of the reference Django app (make compare; not part of the service).

The smallest project that runs the seed's view with Django's auth_user.
Three environment variables choose what make compare measures:

    COMPARE_DB_PATH        the SQLite file (required: every run gets a fresh one)
    COMPARE_DJANGO_SQLITE  "default": Django's own SQLite settings (the failure);
                           "fixed": WAL, a busy timeout and BEGIN IMMEDIATE, as a
                           Django user applies them (see sqlite_fixed/base.py)
    COMPARE_DJANGO_HASH    "default": Django's PBKDF2 at its iteration count;
                           "cheap": PBKDF2 at 1000 iterations (hashers.py), for
                           the run where the hash is not what bounds the rate
"""

import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _choice(name, choices):
    value = os.environ.get(name, choices[0])
    if value not in choices:
        raise RuntimeError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


SQLITE_SETUP = _choice("COMPARE_DJANGO_SQLITE", ("default", "fixed"))
HASH = _choice("COMPARE_DJANGO_HASH", ("default", "cheap"))
DB_PATH = os.environ.get("COMPARE_DB_PATH")
if not DB_PATH:
    raise RuntimeError("COMPARE_DB_PATH: the SQLite file is required")

# DEBUG off, loopback hosts, a throwaway key, django.request's errors on stderr.
from shared_settings import (  # noqa: E402,F401  (Django reads them from here)
    ALLOWED_HOSTS, DEBUG, LOGGING, SECRET_KEY, TIME_ZONE, USE_TZ)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "compareapp.urls"
WSGI_APPLICATION = "compareapp.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

if SQLITE_SETUP == "default":
    # What startproject writes. Python's sqlite3 waits 5 s for a lock by
    # default, so even this has a busy timeout: it does not help a deferred
    # transaction that read first (SQLite refuses its upgrade at once).
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB_PATH}}
else:
    # Django 5.1 would say "OPTIONS": {"transaction_mode": "IMMEDIATE",
    # "init_command": "PRAGMA journal_mode=WAL; ..."}; Debian 12's Django
    # (3.2) has neither, so the usual backend override does the same.
    DATABASES = {"default": {
        "ENGINE": "compareapp.sqlite_fixed",
        "NAME": DB_PATH,
        "OPTIONS": {"timeout": 5},  # seconds: the busy timeout, as sqlite-fcgi's tuned 5000 ms
    }}

if HASH == "cheap":
    PASSWORD_HASHERS = ["compareapp.hashers.CheapPBKDF2PasswordHasher"]
