"""A cheap password hash for make compare's cheap run: Django's own PBKDF2
at 1000 iterations (its default in 3.2 is 260000), the cost of sqlite-fcgi's
cheap run (sha512crypt, 1000 rounds) in kind, not a setting for real use."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class CheapPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1000
