"""Prints the cost of one password hash of the reference Django app:
hash_ms=N (make_password with the settings of the environment, as in
compareapp/settings.py), timed over at least the given seconds."""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compareapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402


def main(seconds):
    make_password("warm up")
    n, start = 0, time.perf_counter()
    while True:
        make_password("benchmark password")
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print(f"hash_ms={1000 * elapsed / n:.3f}")
    print(f"django={django.get_version()}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
