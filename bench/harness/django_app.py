"""The reference Django app (bench/django/) under gunicorn, on a free loopback
port in a directory of its own: the stack a Django user runs, for make compare
and its test. The same shape as stack.Stack: start(), stop(), url(), the
server's pids and its logs."""

import os
import re
import runpy
import signal
import subprocess
from collections import Counter
from pathlib import Path

import requests

from .paths import DJANGO_APP_DIR as APP_DIR, PYTHON
from .ports import free_port
from .procs import stop_group, wait_answering

START_TIMEOUT_S = 60  # migrate and three workers importing Django, on a busy machine
# gunicorn's graceful_timeout is 30 s: a TERM lets the requests in flight finish.
STOP_TIMEOUT_S = 40

# Django's settings of ours that the caller's shell must not change.
OWNED = ("COMPARE_DB_PATH", "COMPARE_DATABASE_URL", "COMPARE_DJANGO_SQLITE", "COMPARE_DJANGO_HASH",
         "DJANGO_SETTINGS_MODULE", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")

# The last line of a logged traceback: "django.db.utils.OperationalError: database is locked".
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$")
# How django.request logs a view's exception, before its traceback.
REQUEST_ERROR = "Internal Server Error: "


# app -> (its settings module, its gunicorn configuration)
APPS = {
    # The seed's /create_user/ view (make compare).
    "compare": ("compareapp.settings", "gunicorn.conf.py"),
    # Upstream's endpoint matrix (make compare-matrix, docs/matrix.md).
    "matrix": ("matrixapp.settings", "gunicorn_matrix.conf.py"),
}


def installed_version(module):
    """module.__version__ as Debian's Python has it (gunicorn, django), or "?"."""
    return subprocess.run([PYTHON, "-c", f"import {module}; print({module}.__version__)"],
                          capture_output=True, text=True).stdout.strip() or "?"


class DjangoApp:
    """One gunicorn serving bench/django; stop() stops what start() started.

    app: "compare" (sqlite: "default", Django's settings, or "fixed"; hash:
    "default" or "cheap") or "matrix" (sqlite: "default" or "workaround")."""

    def __init__(self, run_dir, sqlite="default", hash="default", app="compare"):
        self.run_dir = Path(run_dir)
        self.port = free_port()
        self.db_path = self.run_dir / "db.sqlite3"
        self.access_log_path = self.run_dir / "access.log"
        self.error_log_path = self.run_dir / "error.log"
        self.pid_path = self.run_dir / "gunicorn.pid"
        self.env = {k: v for k, v in os.environ.items() if k not in OWNED}
        self.env.update({
            "COMPARE_DB_PATH": str(self.db_path), "COMPARE_DJANGO_SQLITE": sqlite,
            "COMPARE_DJANGO_HASH": hash, "DJANGO_SETTINGS_MODULE": APPS[app][0],
            "PYTHONPATH": str(APP_DIR),
        })
        self.gunicorn_conf = APP_DIR / APPS[app][1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def url(self, path):
        return self.base + path

    def migrate(self):
        """Creates auth_user and the rest with Django's own migrations."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([PYTHON, "-m", "django", "migrate", "--noinput", "-v", "0"],
                                cwd=APP_DIR, env=self.env, capture_output=True, text=True,
                                timeout=START_TIMEOUT_S)
        if result.returncode != 0:
            raise RuntimeError(f"django migrate failed:\n{result.stderr}")

    def start(self):
        """migrate, then gunicorn; returns once Django answers a request."""
        self.migrate()
        cmd = [PYTHON, "-m", "gunicorn", "-c", str(self.gunicorn_conf),
               "--bind", f"127.0.0.1:{self.port}", "--pid", str(self.pid_path),
               "--access-logfile", str(self.access_log_path),
               "--error-logfile", str(self.error_log_path)]
        with open(self.run_dir / "gunicorn.out", "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=APP_DIR, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        # A path the app does not route: Django's 404 proves that a worker
        # has loaded it, without creating a user.
        wait_answering(self.proc, "gunicorn",
                       lambda: requests.get(self.url("/ready"), timeout=2).status_code == 404,
                       START_TIMEOUT_S, lambda: f":\n{self.error_log()}", poll_s=0.1)

    def stop(self):
        """TERM to the master (its workers finish what they are doing), then
        KILL to its process group if it has not exited within STOP_TIMEOUT_S."""
        if self.proc is None:
            return
        stop_group(self.proc, signal.SIGTERM, STOP_TIMEOUT_S)
        self.proc = None

    @staticmethod
    def sizing(app="compare"):
        """gunicorn's (workers, threads), as app's configuration computes them."""
        conf = runpy.run_path(str(APP_DIR / APPS[app][1]))
        return conf["workers"], conf["threads"]

    def root_pids(self):
        """The gunicorn master (its workers are its children)."""
        return [self.proc.pid] if self.proc is not None else []

    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except OSError:
            return ""

    def exceptions(self):
        """Counter of "OperationalError: database is locked" and such: the
        exception each logged "Internal Server Error" ended with (the causes
        of Django's 500s; a chained traceback names sqlite3's exception
        first and Django's last)."""
        causes = Counter()
        for (_, cause), n in self.exceptions_by_path().items():
            causes[cause] += n
        return causes

    def exceptions_by_path(self):
        """Counter of (path, exception): exceptions() by the path whose
        "Internal Server Error: PATH" line logged it."""
        causes, path, last = Counter(), None, None
        for line in self.error_log().splitlines():
            if line.startswith(REQUEST_ERROR):
                if last:
                    causes[(path, last)] += 1
                path, last = line[len(REQUEST_ERROR):].strip(), None
                continue
            m = EXCEPTION_LINE.match(line)
            if m:
                last = f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)}"
        if last:
            causes[(path, last)] += 1
        return causes
