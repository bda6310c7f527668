"""An nginx that answers every request with 200 "OK" and does nothing else:
the ceiling of a load generator (make compare-matrix runs one locust process
against it). The same shape as stack.Stack for the session: start(), stop(),
url(), root_pids(), run_dir, db_path (None: it stores nothing) and its
access log."""

import os
import signal
import subprocess
from pathlib import Path

import requests

from .ports import free_port
from .procs import stop_group, wait_answering

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30

CONF = """\
{user}
worker_processes auto;
daemon off;
pid "{run_dir}/nginx-ok.pid";
error_log "{run_dir}/nginx-error.log" warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path "{run_dir}/tmp";
    access_log "{run_dir}/access.log";
    server {{
        listen 127.0.0.1:{port};
        # POST bodies are read and dropped: the answer is the same.
        location / {{ default_type text/plain; return 200 "OK"; }}
    }}
}}
"""


class OkNginx:
    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.port = free_port()
        self.db_path = None
        self.access_log_path = self.run_dir / "access.log"
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def url(self, path):
        return self.base + path

    def start(self):
        """nginx in the foreground of a session of its own; returns once it answers."""
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would drop to "nobody": keep them ours.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = self.run_dir / "nginx-ok.conf"
        conf.write_text(CONF.format(user=user, run_dir=self.run_dir, port=self.port))
        with open(self.run_dir / "nginx.out", "wb") as out:
            self.proc = subprocess.Popen(["nginx", "-p", str(self.run_dir), "-c", str(conf),
                                          "-e", str(self.run_dir / "nginx-error.log")],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_answering(self.proc, "nginx",
                           lambda: requests.get(self.url("/"), timeout=2).text == "OK",
                           START_TIMEOUT_S, lambda: f" (see {self.run_dir / 'nginx-error.log'})")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """QUIT: nginx's graceful stop (the requests in flight are answered)."""
        if self.proc is None:
            return
        stop_group(self.proc, signal.SIGQUIT, STOP_TIMEOUT_S)
        self.proc = None

    def root_pids(self):
        return [self.proc.pid] if self.proc is not None else []
