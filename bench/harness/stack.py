"""The real stack (nginx + spawn-fcgi + multiwatch + sqlite-fcgi workers),
started by deploy/local/stack.sh on a free loopback port in a temporary directory."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from .paths import BINARY, ROOT, STACK
from .ports import free_port
from .settings import without_settings
from .sqlite_files import user_count

# Adopts and reaps the processes stack.sh leaves running (see reaper.py).
REAPER = Path(__file__).resolve().parent / "reaper.py"


def reaped(command):
    """command, run so that the daemons it leaves behind are reaped as soon
    as they exit: a stop then returns when they have, not when init looks."""
    return [sys.executable, str(REAPER), *command]


class Stack:
    """One running stack; stop() stops everything start() started."""

    def __init__(self, run_dir, **settings):
        self.run_dir = Path(run_dir)
        self.port = free_port()
        self.db_path = Path(settings.get("DB_PATH", self.run_dir / "db.sqlite3"))
        self.access_log_path = self.run_dir / "access.log"
        # Settings of the developer's shell must not leak into a test.
        self.env = without_settings(os.environ)
        self.env.update({
            "PORT": str(self.port), "RUN_DIR": str(self.run_dir),
            "DB_PATH": str(self.db_path), "SQLITE_FCGI": str(BINARY),
        })
        self.env.update({k: str(v) for k, v in settings.items()})
        self.base = f"http://127.0.0.1:{self.port}"

    def run_script(self, command, *args, timeout=60):
        return subprocess.run(reaped([str(STACK), command, *args]), env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        result = self.run_script("start")
        if result.returncode != 0:
            raise RuntimeError(f"stack start failed: {result.stderr.strip()}")
        return self

    def stop(self):
        result = self.run_script("stop")
        assert result.returncode == 0, result.stderr

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        return requests.get(self.url(path), timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url(path), timeout=30, **kw)

    def query(self, sql, *args):
        con = sqlite3.connect(self.db_path, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def user_count(self):
        return user_count(self.db_path)

    def config(self):
        """What `sqlite-fcgi config` prints in this stack's environment (the
        settings the workers resolve, and the statements they run)."""
        return subprocess.run([self.env["SQLITE_FCGI"], "config"], env=self.env,
                              capture_output=True, text=True, timeout=30)

    def pid(self, name):
        return int((self.run_dir / f"{name}.pid").read_text())

    def root_pids(self):
        """nginx's master and the pool's multiwatch (the workers are its children)."""
        return [self.pid("nginx"), self.pid("workers")]

    def worker_pids(self):
        """The sqlite-fcgi processes multiwatch keeps."""
        out = subprocess.run(["pgrep", "-P", str(self.pid("workers"))],
                             capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def wait_for_workers(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == n:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"expected {n} workers, have {self.worker_pids()}")

    def access_log(self):
        """nginx's complete log lines.  nginx writes each line with one
        write(2), but a read beside it can see part of it (one CI run read
        "127.0.0.1 [26/Nov/2026:05:01:54 +0"): a last line without its
        newline is left for the next read."""
        path = self.access_log_path
        if not path.exists():
            return []
        text = path.read_text(errors="replace")
        return text[:text.rfind("\n") + 1].splitlines()

    def app_log(self):
        path = self.run_dir / "app.log"
        return path.read_text() if path.exists() else ""
