"""The loads of the load tools (make demo, make compare): locust with
bench/load/locustfile.py, or wrk, started in a session of their own against
a server and watched until they exit (how long is left shown, the server
sampled, the generator killed past its bound).  Each load reads its own
results into locust.Totals, one per request name and "" for the whole run,
so that a tool can add another load (another locust file, other requests)
without changing how a run goes."""

import math
import subprocess
import sys
import time

from . import locust, wrk
from .measure import SAMPLE_S
from .paths import LOCUSTFILE, PYTHON, ROOT

# Seconds locust lets a user finish the request it is in when the run time
# is up: longer than any answer can take (busy timeout 5 s + queueing).
STOP_TIMEOUT_S = 60
# What creates the users: the seed's request.
CREATE = "create_user/"


def _start(cmd, stdout_path, stderr_path=None, env=None):
    """cmd in a session of its own (a Ctrl-C in the terminal reaches the tool,
    which stops it), its output in files; our copies of them closed at once."""
    out = open(stdout_path, "wb")
    err = open(stderr_path, "wb") if stderr_path else None
    try:
        if err is None:  # one log: it starts with the command
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err or subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
        if err is not None:
            err.close()


class Locust:
    """locust -u USERS (and READERS readers beside each) for SECONDS, with
    locustfile; its results are read for the request names of names."""
    tool = "locust"
    at_the_end = "time is up, waiting for the requests in flight"
    cuts_off = False  # --stop-timeout: every request in flight is answered first

    def __init__(self, users, seconds, readers=0, locustfile=LOCUSTFILE,
                 names=(CREATE, "users/"), what=""):
        self.users, self.seconds, self.readers = users, seconds, readers
        self.locustfile, self.names, self.what = locustfile, tuple(names), what
        self.limit = seconds + STOP_TIMEOUT_S + 30

    def describe(self):
        return f"locust -u {self.users} -t {self.seconds}s" + (
            f" (and {self.readers} reader(s) beside each user)" if self.readers else "") + (
            f" ({self.what})" if self.what else "")

    def start(self, url, run_dir, env):
        users = self.users * (1 + self.readers)
        cmd = [PYTHON, "-m", "locust", "-f", str(self.locustfile), "--headless",
               "-u", str(users), "-r", str(users), "-t", f"{self.seconds}s",
               "--stop-timeout", str(STOP_TIMEOUT_S), "--host", url,
               "--csv", str(run_dir / "locust"), "--only-summary"]
        env = dict(env, LOAD_READERS_PER_WRITER=str(self.readers))
        return _start(cmd, run_dir / "locust.log", env=env)

    def results(self, run_dir, rc):
        """({request name: Totals}, problem)."""
        log = run_dir / "locust.log"
        # 0: no failure; 1: the run had failures (that is a result, not an error).
        if rc not in (0, 1):
            return {}, f"locust exited with status {rc} (see {log})"
        prefix = run_dir / "locust"
        try:
            totals = {name: locust.totals(prefix, name or None) for name in ("", *self.names)}
        except (OSError, ValueError, KeyError) as e:
            return {}, f"locust's CSV could not be read: {e} (see {log})"
        return totals, ""


class Wrk:
    """wrk -c USERS for SECONDS on path, creating users; or, with script (a
    wrk Lua script that prints wrk_report.lua's WRK line, such as
    bench/load/matrix.lua), the requests that script makes from path."""
    tool = "wrk"
    at_the_end = "time is up"
    cuts_off = True  # it drops its connections, requests in flight too, at its deadline

    def __init__(self, users, seconds, path="/" + CREATE, script=None, what=""):
        self.users, self.seconds, self.path, self.script = users, seconds, path, script
        self.what = what
        self.limit = seconds + 60  # wrk stops itself at -d; the rest is margin

    def describe(self):
        return f"wrk -c {self.users} -d {self.seconds}s" + (f" ({self.what})" if self.what else "")

    def start(self, url, run_dir, env):
        cmd = wrk.command(url.rstrip("/") + self.path, self.users, self.seconds, self.script)
        return _start(cmd, run_dir / "wrk.out", run_dir / "wrk.err", env=env)

    def results(self, run_dir, rc):
        out, err = run_dir / "wrk.out", run_dir / "wrk.err"
        if rc != 0:
            return {}, f"wrk exited with status {rc} (see {err})"
        try:
            r = wrk.summary(out.read_text(), err.read_text())
        except RuntimeError as e:
            return {}, f"wrk printed no report (see {out}): {str(e).splitlines()[0]}"
        t = locust.Totals(requests=r["requests"], failures=r["failures"], rps=r["rps"],
                          p50=r["p50_ms"], p99=r["p99_ms"], p999=r["p999_ms"], max=r["max_ms"])
        return {"": t, self.path.lstrip("/"): t}, ""


def watch(proc, load, label, sample=None):
    """Waits for proc, load's generator: says how long is left of its run,
    calls sample() every SAMPLE_S, kills it past load.limit seconds.  Its
    exit status; None when it had to be killed."""
    start, shown = time.monotonic(), None
    while proc.poll() is None:
        elapsed = time.monotonic() - start
        if elapsed > load.limit:
            proc.kill()
            proc.wait()
            return None
        if sample is not None:
            sample()
        left = max(0, math.ceil(load.seconds - elapsed))
        if left != shown:
            _progress(f"{label}: {left} s left" if left else f"{label}: {load.at_the_end}",
                      left, load.seconds)
            shown = left
        try:  # the next sample in SAMPLE_S, or at once when the generator exits
            proc.wait(timeout=SAMPLE_S)
        except subprocess.TimeoutExpired:
            pass
    if sys.stdout.isatty():
        print("\r\033[K", end="", flush=True)
    return proc.returncode


def _progress(text, left, seconds):
    if sys.stdout.isatty():
        print(f"\r\033[K{text}", end="", flush=True)
    elif left % 5 == 0 or left == seconds:
        print(text, flush=True)


def stop(proc):
    """Ends a load generator early: TERM (locust shuts down on it), KILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
