"""Run by test_django_login.py with Debian's Python: a stock Django, no
project, pointed at the service's SQLite file, logs the given users in.

    django_check.py DB_PATH < [[username, right_password, wrong_password], ...]

Prints one JSON line per user: what check_password, authenticate() and
User.check_password said, and the stored hash's algorithm as Django names it.
"""

import json
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    # Django's own default list, plus the bcrypt hasher a project adds to use it.
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
    ],
    USE_TZ=False,
)
django.setup()

from django.contrib.auth import authenticate  # noqa: E402  (after setup)
from django.contrib.auth.hashers import check_password, identify_hasher  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402

for username, right, wrong in json.load(sys.stdin):
    user = User.objects.get(username=username)
    encoded = user.password
    print(json.dumps({
        "username": username,
        "algorithm": identify_hasher(encoded).algorithm,
        "check_right": check_password(right, encoded),
        "check_wrong": check_password(wrong, encoded),
        "model_right": User.objects.get(username=username).check_password(right),
        "authenticate_right": authenticate(username=username, password=right) is not None,
        "authenticate_wrong": authenticate(username=username, password=wrong) is not None,
    }), flush=True)
