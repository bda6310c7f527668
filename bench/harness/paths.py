"""Where things are in the repository, for the tools and the tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "build" / "sqlite-fcgi"
# nginx + the worker pool on this machine (make run, the tools, the tests).
STACK = ROOT / "deploy" / "local" / "stack.sh"
# The load of make demo and make compare (and of tests that run it).
LOCUSTFILE = ROOT / "bench" / "load" / "locustfile.py"
# Upstream's endpoint matrix mix (docs/matrix.md): for locust, and for wrk.
MATRIX_LOCUSTFILE = ROOT / "bench" / "load" / "matrix_locustfile.py"
MATRIX_LUA = ROOT / "bench" / "load" / "matrix.lua"
# The reference Django apps of make compare and make compare-matrix.
DJANGO_APP_DIR = ROOT / "bench" / "django"
# Debian's, with python3-locust, python3-django and gunicorn.
PYTHON = "/usr/bin/python3"
