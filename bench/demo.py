#!/usr/bin/python3
"""The "database is locked" failure and its fix, side by side (make demo).

    PYTHONPATH=. /usr/bin/python3 bench/demo.py [--users 10] [--duration 10s]
        [--workers N] [--out var/demo] [--configs NAME,...] [--no-chart]

For each configuration of CONFIGS, on a fresh database and a freshly started
stack (deploy/stack.sh: nginx on a free 127.0.0.1 port, spawn-fcgi +
multiwatch workers) under OUT/NAME/, it runs locust headless with
tests/load/locustfile.py, lets the requests in flight finish (locust's
--stop-timeout, then nginx's graceful stop), and counts the users in the
database and the 2xx /create_user/ lines in nginx's access log. The
"postgresql" row runs the same service on PostgreSQL: a server the demo
starts (tests/harness/postgres.py: Debian's PostgreSQL 15, initdb + pg_ctl in
a temporary directory, a free loopback port), a fresh database on it, and
the same load and hash; the server is stopped and removed at the end. Then it
prints one table and writes OUT/results.md, OUT/results.csv, OUT/errors.csv
and OUT/results.png (gnuplot).

The service is build/sqlite-fcgi (or $SQLITE_FCGI), copied to OUT/bin/ first.
Every setting of a row is explicit: SQLITE_*, HASH_WHEN, WRITE_LOCK_WAIT and
DATABASE_URL from the caller's environment are ignored; WORKERS (or --workers),
WEB_CONCURRENCY, HASH_METHOD and HASH_COST pass through. Exit status: 0 when every
configuration ran and every file was written, 1 when one did not (the
table says which and why), 2 on bad arguments, 130 on Ctrl-C (which stops
the load and the stack that were running).
"""

import argparse
import csv
import math
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from plot import histogram_preamble, run_gnuplot
from tests.harness import locust
from tests.harness.accesslog import create_statuses
from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer
from tests.harness.sqlite_files import user_count
from tests.harness.stack import ROOT as ROOT_PATH, STACK as STACK_PATH, reaped

ROOT = str(ROOT_PATH)
STACK = str(STACK_PATH)
# The service: SQLITE_FCGI if set, else the one make builds. The demo runs a
# copy of it (OUT/bin/), so that a rebuild meanwhile cannot mix two versions.
BINARY = os.path.abspath(os.environ.get("SQLITE_FCGI") or os.path.join(ROOT, "build", "sqlite-fcgi"))
LOCUSTFILE = str(locust.LOCUSTFILE)
PYTHON = "/usr/bin/python3"  # Debian's, with python3-locust

# Seconds locust lets a user finish the request it is in when the run time is
# up: longer than any answer can take (busy timeout 5 s + queueing).
STOP_TIMEOUT_S = 60
START_TIMEOUT_S = 60   # deploy/stack.sh start (its own limit is 30 s)
STOP_STACK_TIMEOUT_S = 60  # deploy/stack.sh stop (15 s per process, then KILL)

# Settings the demo owns: taken out of the caller's environment.
OWNED_SETTINGS = ("SQLITE_PROFILE", "SQLITE_JOURNAL_MODE", "SQLITE_SYNCHRONOUS",
                  "SQLITE_BUSY_TIMEOUT_MS", "SQLITE_TXN", "HASH_WHEN", "WRITE_LOCK_WAIT",
                  "DATABASE_URL")
# DATABASE_URL of a row that runs on the demo's own PostgreSQL server: each
# such row gets a fresh database on it (Demo.database_url).
DEMO_POSTGRES = "postgres://(the demo's server)"


def settings(profile, journal, sync, busy_ms, txn, hash_when):
    # Every row waits for the write lock the way SQLite does (its busy
    # handler), not with the service's optional flock queue.
    return {"SQLITE_PROFILE": profile, "SQLITE_JOURNAL_MODE": journal,
            "SQLITE_SYNCHRONOUS": sync, "SQLITE_BUSY_TIMEOUT_MS": str(busy_ms),
            "SQLITE_TXN": txn, "HASH_WHEN": hash_when, "WRITE_LOCK_WAIT": "sqlite"}


# The ablation of the fix. synchronous follows the journal: FULL with the
# rollback journal (SQLite's and Django's default), NORMAL with WAL (what the
# tuned profile pairs with WAL), so that rows 4 -> 5 -> 6 each change one
# thing. The "only" rows set the busy timeout to 0 to show that piece alone;
# the other rows keep Python's sqlite3 default of 5 s.
CONFIGS = [
    ("django-default", "Django's defaults: rollback journal, busy timeout 5 s, "
     "deferred BEGIN, hash inside the transaction",
     settings("django-default", "delete", "full", 5000, "deferred", "inside-transaction")),
    ("wal-only", "WAL only: deferred BEGIN, no busy timeout",
     settings("django-default", "wal", "normal", 0, "deferred", "inside-transaction")),
    ("immediate-only", "BEGIN IMMEDIATE only: rollback journal, no busy timeout",
     settings("django-default", "delete", "full", 0, "immediate", "inside-transaction")),
    ("wal-busy", "WAL + busy timeout 5 s, deferred BEGIN",
     settings("django-default", "wal", "normal", 5000, "deferred", "inside-transaction")),
    ("wal-busy-immediate", "WAL + busy timeout 5 s + BEGIN IMMEDIATE, "
     "hash inside the transaction",
     settings("django-default", "wal", "normal", 5000, "immediate", "inside-transaction")),
    ("tuned", "the tuned profile: WAL + busy timeout 5 s + BEGIN IMMEDIATE, "
     "hash before BEGIN",
     settings("tuned", "wal", "normal", 5000, "immediate", "before-begin")),
    # The same request path as tuned (hash before BEGIN, busy timeout 5 s as
    # lock_timeout), on PostgreSQL: the SQLite settings are ignored there.
    ("postgresql", "the tuned settings on PostgreSQL 15 (a local server): "
     "hash before BEGIN, lock_timeout 5 s",
     dict(settings("tuned", "wal", "normal", 5000, "immediate", "before-begin"),
          DATABASE_URL=DEMO_POSTGRES)),
]



class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


def _interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


@dataclass
class Result:
    name: str
    description: str
    env: dict
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    users_in_db: int | None = None
    statuses: Counter = field(default_factory=Counter)  # nginx, /create_user/
    errors: list = field(default_factory=list)  # (locust failure name, count)
    # GET /users/ beside the writes (--readers): its own figures.
    read_requests: int = 0
    read_failures: int = 0
    read_p50: float | None = None
    read_p99: float | None = None
    read_errors: list = field(default_factory=list)
    problem: str = ""  # why this configuration has no (or no full) result

    @property
    def nginx_2xx(self):
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def failure_pct(self):
        return 100.0 * self.failures / self.requests if self.requests else 0.0


def say(msg):
    print(msg, flush=True)


def parse_duration(text):
    """Seconds in "10s", "1m30s", "2m", "45" (locust's --run-time forms)."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise argparse.ArgumentTypeError(f"DURATION: '{text}' is not like 10s, 1m30s or 45")
    h, mi, s = (int(g or 0) for g in m.groups())
    seconds = 3600 * h + 60 * mi + s
    if seconds < 1:
        raise argparse.ArgumentTypeError("DURATION: at least 1 second")
    return seconds


def positive_int(name):
    def parse(text):
        if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{name}: '{text}' is not a positive integer")
        return int(text)
    return parse


def wait_bounded(proc, timeout):
    """Waits for proc; a Ctrl-C meanwhile is held until it has finished.

    For the short, bounded commands (config, stack start/stop): stopping
    deploy/stack.sh start half-way could leave a process without its pid file.
    Returns (returncode or None on timeout, interrupted)."""
    deadline = time.monotonic() + timeout
    interrupted = False
    while True:
        try:
            return proc.wait(timeout=max(0.0, deadline - time.monotonic())), interrupted
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, interrupted
        except Interrupted:
            if not interrupted:
                say("\ninterrupted: waiting for the current step to finish, then stopping")
            interrupted = True


def run_step(cmd, env, log_path, timeout):
    """Runs cmd (output appended to log_path); returns whether it succeeded.

    Raises Interrupted once cmd has finished if Ctrl-C came meanwhile."""
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        rc, interrupted = wait_bounded(proc, timeout)
        if rc is None:
            log.write(f"timed out after {timeout} s: killed\n".encode())
        elif rc != 0:
            log.write(f"exit status {rc}\n".encode())
    if interrupted:
        raise Interrupted("SIGINT")
    return rc == 0


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({e})\n"


def read_locust(result, prefix):
    """Fills result from locust's final CSV files (see the locustfile)."""
    t = locust.totals(prefix, "create_user/")
    result.requests, result.failures, result.rps = t.requests, t.failures, t.rps
    if t.requests:
        result.p50, result.p95, result.p99 = t.p50, t.p95, t.p99
    result.errors = t.errors
    r = locust.totals(prefix, "users/")
    result.read_requests, result.read_failures = r.requests, r.failures
    result.read_p50, result.read_p99, result.read_errors = r.p50, r.p99, r.errors


def masked_url(url):
    """url with its password replaced by ***, for the report."""
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", url)




class Demo:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.configs = [c for c in CONFIGS if c[0] in args.configs]
        self.results = []
        self.resolved = {}  # WORKERS, HASH_METHOD, HASH_COST as the workers see them
        self.locust = None
        self.live_env = None  # the environment of a stack that may be running
        self.binary = os.path.join(self.out, "bin", "sqlite-fcgi")
        self.pg = None  # the PostgreSQL server, started for the first row that needs it
        self.pg_version = None

    def database_url(self, name):
        """A fresh database for the row name on the demo's PostgreSQL server
        (started on first use); (url, database name)."""
        if self.pg is None:
            say("starting a PostgreSQL server for the postgresql row (initdb + pg_ctl)")
            pg = PostgresServer()
            try:
                pg.init()
                pg.start()
            except Exception:
                pg.remove()
                raise
            self.pg = pg
            pg.create_role()
            self.pg_version = pg.value("SHOW server_version", "postgres")
        db = self.pg.new_database()
        say(f"{name}: database {db} on PostgreSQL {self.pg_version} at 127.0.0.1:{self.pg.port}")
        return self.pg.url(db), db

    def stop_postgres(self):
        if self.pg is not None:
            try:
                self.pg.stop("fast")
            except RuntimeError as e:
                say(f"PostgreSQL did not stop cleanly: {e}")
            self.pg.remove()
            self.pg = None

    def env_for(self, cfg_env, cfg_dir, port):
        env = {k: v for k, v in os.environ.items() if k not in OWNED_SETTINGS}
        env.update(cfg_env)
        env.update(PORT=str(port), RUN_DIR=os.path.join(cfg_dir, "run"),
                   DB_PATH=os.path.join(cfg_dir, "db.sqlite3"), SQLITE_FCGI=self.binary)
        if self.args.workers:
            env["WORKERS"] = str(self.args.workers)
        return env

    def stop_stack(self, env, log_path):
        ok = run_step([STACK, "stop"], env, log_path, STOP_STACK_TIMEOUT_S)
        if ok:
            self.live_env = None
        return ok

    def progress(self, label, left):
        text = (f"{label}: {left} s left" if left > 0 else
                f"{label}: time is up, waiting for the requests in flight")
        if sys.stdout.isatty():
            print(f"\r\033[K{text}", end="", flush=True)
        elif left % 5 == 0 or left == self.args.seconds:
            say(text)

    def run_locust(self, result, label, port, cfg_dir, env):
        prefix = os.path.join(cfg_dir, "locust")
        # The same writers in every run, and --readers readers beside each.
        users = self.args.users * (1 + self.args.readers)
        env = dict(env, LOAD_READERS_PER_WRITER=str(self.args.readers))
        cmd = [PYTHON, "-m", "locust", "-f", LOCUSTFILE, "--headless",
               "-u", str(users), "-r", str(users),
               "-t", f"{self.args.seconds}s", "--stop-timeout", str(STOP_TIMEOUT_S),
               "--host", f"http://127.0.0.1:{port}/", "--csv", prefix, "--only-summary"]
        log_path = os.path.join(cfg_dir, "locust.log")
        with open(log_path, "wb") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self.locust = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            start = time.monotonic()
            limit = self.args.seconds + STOP_TIMEOUT_S + 30
            shown = None
            while self.locust.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed > limit:
                    self.locust.kill()
                    self.locust.wait()
                    self.locust = None
                    result.problem = f"locust did not finish within {limit} s (see {log_path})"
                    return
                left = max(0, math.ceil(self.args.seconds - elapsed))
                if left != shown:
                    self.progress(label, left)
                    shown = left
                time.sleep(0.2)
            rc = self.locust.returncode
            self.locust = None
        if sys.stdout.isatty():
            print("\r\033[K", end="", flush=True)
        # 0: no failure; 1: the run had failures (that is a result, not an error).
        if rc not in (0, 1):
            result.problem = f"locust exited with status {rc} (see {log_path})"
            return
        try:
            read_locust(result, prefix)
        except (OSError, ValueError, KeyError) as e:
            result.problem = f"locust's CSV could not be read: {e} (see {log_path})"

    def run_config(self, index, name, description, cfg_env):
        label = f"[{index}/{len(self.configs)}] {name}"
        result = Result(name, description, cfg_env)
        self.results.append(result)
        cfg_dir = os.path.join(self.out, name)
        stack_log = os.path.join(cfg_dir, "stack.log")
        port = free_port()
        env = self.env_for(cfg_env, cfg_dir, port)
        pg_db = None
        if cfg_env.get("DATABASE_URL") == DEMO_POSTGRES:
            try:
                env["DATABASE_URL"], pg_db = self.database_url(name)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                result.problem = f"PostgreSQL could not be started: {e}"
                say(f"{label}: {result.problem}")
                return
            result.env = dict(cfg_env, DATABASE_URL=masked_url(env["DATABASE_URL"]))
        if os.path.isdir(cfg_dir):
            # A stack left by an earlier, killed run: stop it before wiping.
            run_step([STACK, "stop"], env, os.devnull, STOP_STACK_TIMEOUT_S)
            shutil.rmtree(cfg_dir)
        os.makedirs(cfg_dir)

        ok = run_step([self.binary, "config"], env, os.path.join(cfg_dir, "config.txt"), 30)
        if not ok:
            result.problem = f"settings refused: {tail(os.path.join(cfg_dir, 'config.txt'), 3).strip()}"
            say(f"{label}: {result.problem}")
            return
        self.note_resolved(os.path.join(cfg_dir, "config.txt"))

        say(f"{label}: starting the stack on 127.0.0.1:{port} "
            f"({' '.join(f'{k}={v}' for k, v in result.env.items())})")
        self.live_env = env
        # Under a reaper: the stop then returns as soon as nginx and the
        # pool have exited, whenever init would reap them (reaper.py).
        ok = run_step(reaped([STACK, "start"]), env, stack_log, START_TIMEOUT_S)
        if not ok:
            self.stop_stack(env, stack_log)
            result.problem = f"the stack did not start (see {stack_log})"
            say(f"{label}: {result.problem}:\n{tail(stack_log)}")
            return

        self.run_locust(result, label, port, cfg_dir, env)
        # nginx first, gracefully (QUIT: it finishes what is in flight).
        if not self.stop_stack(env, stack_log):
            result.problem = result.problem or f"the stack did not stop cleanly (see {stack_log})"
        if result.problem and not result.requests:
            say(f"{label}: {result.problem}")
            return
        try:
            if pg_db is None:
                result.users_in_db = user_count(env["DB_PATH"])
            else:
                result.users_in_db = int(self.pg.value("SELECT count(*) FROM auth_user", pg_db))
            result.statuses = create_statuses(os.path.join(env["RUN_DIR"], "access.log"))
        except (OSError, sqlite3.Error, RuntimeError, ValueError) as e:
            result.problem = result.problem or f"could not count the server's records: {e}"
        say(f"{label}: {result.requests} requests, {result.failures} failures, "
            f"{result.rps:.1f} req/s, users in DB {result.users_in_db}, "
            f"2xx in nginx log {result.nginx_2xx}"
            + (f"; {result.problem}" if result.problem else ""))

    def note_resolved(self, config_txt):
        with open(config_txt) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k in ("WORKERS", "HASH_METHOD", "HASH_COST") and k not in self.resolved:
                    self.resolved[k] = v

    def cleanup(self):
        """Stops the locust and the stack of the configuration in progress.

        Bounded (10 s for locust, 60 s for the stack); a second Ctrl-C
        meanwhile is ignored, so that nothing is left running."""
        def hold(_signum, _frame):
            say("stopping: please wait")
        previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self._cleanup()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _cleanup(self):
        if self.locust is not None and self.locust.poll() is None:
            self.locust.terminate()  # locust's SIGTERM handler: shut down
            try:
                self.locust.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.locust.kill()
                self.locust.wait()
        self.locust = None
        if self.live_env is not None:
            env = self.live_env
            say(f"stopping the stack in {env['RUN_DIR']}")
            if not run_step([STACK, "stop"], env,
                            os.path.join(os.path.dirname(env["RUN_DIR"]), "stack.log"),
                            STOP_STACK_TIMEOUT_S):
                say(f"the stack in {env['RUN_DIR']} did not stop cleanly: see its stack.log")
            self.live_env = None
        self.stop_postgres()

    def run(self):
        self.load_before = os.getloadavg()[0]
        os.makedirs(os.path.dirname(self.binary), exist_ok=True)
        shutil.copy2(BINARY, self.binary + ".tmp")
        os.replace(self.binary + ".tmp", self.binary)
        n = len(self.configs)
        each = self.args.seconds + 5
        say(f"demo: {n} configurations, {self.args.users} users for {self.args.seconds} s each "
            f"(about {n * each // 60} min {n * each % 60} s); output in {self.out}")
        try:
            for i, (name, description, cfg_env) in enumerate(self.configs, 1):
                self.run_config(i, name, description, cfg_env)
        except Interrupted:
            self.cleanup()
            say("\ninterrupted: stopped the load and the stack; no table written")
            return 130
        finally:
            # An unexpected error too: no stack or server left running.
            self.cleanup()
        report = Report(self)
        ok = report.write()
        return 0 if ok and not any(r.problem for r in self.results) else 1


def fmt_ms(v):
    return f"{v:.0f}"


class Report:
    HEADER = ["configuration", "requests", "failures (%)", "req/s", "p50 (ms)",
              "p95 (ms)", "p99 (ms)", "users in DB", "2xx in nginx log",
              "reads", "read failures", "read p50 (ms)", "read p99 (ms)"]

    def __init__(self, demo):
        self.demo = demo
        self.results = demo.results
        self.out = demo.out

    def row(self, r):
        if r.problem and not r.requests:
            return [r.name, "-", "-", "-", "-", "-", "-", "-", f"FAILED: {r.problem}",
                    "-", "-", "-", "-"]
        cells = [r.name, str(r.requests), f"{r.failures} ({r.failure_pct:.1f}%)",
                 f"{r.rps:.1f}", fmt_ms(r.p50), fmt_ms(r.p95), fmt_ms(r.p99),
                 "-" if r.users_in_db is None else str(r.users_in_db), str(r.nginx_2xx)]
        if r.users_in_db is not None and r.users_in_db != r.nginx_2xx:
            cells[-1] += " (MISMATCH)"
        if r.read_requests:
            cells += [str(r.read_requests), str(r.read_failures),
                      fmt_ms(r.read_p50), fmt_ms(r.read_p99)]
        else:
            cells += ["-", "-", "-", "-"]
        return cells

    @staticmethod
    def markdown_table(header, rows):
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
        sep = "| " + " | ".join("-" * w for w in widths) + " |"
        return "\n".join([line(header), sep] + [line(r) for r in rows])

    def machine(self):
        cpu = "unknown CPU"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        # The load average says whether other work shared the CPUs.
        return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
                f"SQLite {sqlite3.sqlite_version}"
                + (f", PostgreSQL {self.demo.pg_version}" if self.demo.pg_version else "")
                + f", load average {self.demo.load_before:.2f} "
                f"before the run and {os.getloadavg()[0]:.2f} after")

    def text(self):
        a, res = self.demo.args, self.demo.resolved
        lines = [
            f"USERS={a.users} DURATION={a.seconds}s WORKERS={res.get('WORKERS', '?')} "
            f"HASH_METHOD={res.get('HASH_METHOD', '?')} HASH_COST={res.get('HASH_COST', '?')}; "
            f"{self.machine()}",
            "",
            self.markdown_table(self.HEADER, [self.row(r) for r in self.results]),
            "",
            "Errors (locust's failures, by configuration):",
            "",
        ]
        err_rows = [[r.name, e, str(n)] for r in self.results for e, n in r.errors]
        err_rows += [[r.name, f"read: {e}", str(n)] for r in self.results for e, n in r.read_errors]
        lines.append(self.markdown_table(["configuration", "error", "count"], err_rows)
                     if err_rows else "none")
        lines += ["", "nginx statuses of /create_user/ (access log):", ""]
        lines.append(self.markdown_table(
            ["configuration", "statuses"],
            [[r.name, ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items())) or "-"]
             for r in self.results]))
        lines += ["", "Settings of each configuration (exact environment of the workers):", ""]
        lines.append(self.markdown_table(
            ["configuration", "environment", "what it is"],
            [[r.name, " ".join(f"{k}={v}" for k, v in r.env.items()), r.description]
             for r in self.results]))
        problems = [f"- {r.name}: {r.problem}" for r in self.results if r.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def write_csv(self):
        with open(os.path.join(self.out, "results.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["configuration", *OWNED_SETTINGS, "users", "duration_s", "requests",
                        "failures", "failure_pct", "req_per_s", "p50_ms", "p95_ms", "p99_ms",
                        "users_in_db", "nginx_2xx", "problem", "reads", "read_failures",
                        "read_p50_ms", "read_p99_ms"])
            for r in self.results:
                w.writerow([r.name, *(r.env.get(k, "") for k in OWNED_SETTINGS), self.demo.args.users,
                            self.demo.args.seconds, r.requests, r.failures,
                            f"{r.failure_pct:.2f}", f"{r.rps:.2f}", fmt_ms(r.p50), fmt_ms(r.p95),
                            fmt_ms(r.p99), "" if r.users_in_db is None else r.users_in_db,
                            r.nginx_2xx, r.problem, r.read_requests, r.read_failures,
                            "" if r.read_p50 is None else fmt_ms(r.read_p50),
                            "" if r.read_p99 is None else fmt_ms(r.read_p99)])
        with open(os.path.join(self.out, "errors.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["configuration", "error", "count"])
            for r in self.results:
                for e, n in r.errors:
                    w.writerow([r.name, e, n])

    def write_chart(self):
        """results.png: req/s and failure % per configuration; an error or ""."""
        dat = os.path.join(self.out, "results.dat")
        with open(dat, "w") as f:
            for r in self.results:
                ok_rps = r.rps * (r.requests - r.failures) / r.requests if r.requests else 0.0
                # Rounded as the table rounds them, so that both say the same.
                f.write(f'"{r.name}"\t{r.rps:.1f}\t{r.failure_pct:.1f}\t{ok_rps:.1f}\n')
        a = self.demo.args
        script = histogram_preamble(os.path.join(self.out, "results.png"),
                                    xtics="rotate by -25 scale 0") + f"""
set multiplot layout 1,2 title 'sqlite-fcgi: {a.users} locust users, {a.seconds} s per configuration'
# Fast failures can outnumber answers a hundredfold: a log scale keeps both readable.
set title 'requests/s, log scale (all answers, and the 2xx among them)'
set logscale y
set yrange [0.5:*]
set key top left
plot '{dat}' using 2:xtic(1) title 'all requests/s' linecolor rgb '#8fb3d9', \
     '' using 4 title '2xx (users created)/s' linecolor rgb '#2f6fb0', \
     '' using ($0-1.0/6):2:(sprintf('%.1f',$2)) with labels offset 0,0.7 font ',7' notitle, \
     '' using ($0+1.0/6):4:(sprintf('%.1f',$4)) with labels offset 0,0.7 font ',7' notitle
unset logscale y
set title 'failures, % of requests (lower is better)'
set yrange [0:105]
set key off
set style histogram clustered gap 1
plot '{dat}' using 3:xtic(1) linecolor rgb '#c0392b', \
     '' using 0:3:(sprintf('%.1f',$3)) with labels offset 0,0.7 notitle
unset multiplot
"""
        return run_gnuplot(script, self.out)

    def write(self):
        text = self.text()
        print()
        print(text, end="", flush=True)
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write(text)
        self.write_csv()
        ok = True
        if self.demo.args.chart:
            err = self.write_chart()
            if err:
                say(f"\nchart: {err}")
                ok = False
        outputs = ["results.md", "results.csv", "errors.csv"] + (["results.png"] if ok and self.demo.args.chart else [])
        say("\nwritten: " + ", ".join(os.path.join(self.out, o) for o in outputs))
        return ok


def parse_args(argv):
    names = [c[0] for c in CONFIGS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=positive_int("USERS"), default=10)
    p.add_argument("--duration", dest="seconds", type=parse_duration, default=10,
                   help="per configuration: 10s, 1m, 1m30s (default 10s)")
    p.add_argument("--workers", type=positive_int("WORKERS"), default=None,
                   help="worker processes (default: WORKERS from the environment, else CPUs + 1)")
    p.add_argument("--out", default=os.path.join(ROOT, "var", "demo"))
    p.add_argument("--configs", default=",".join(names),
                   help="comma-separated, from: " + ", ".join(names))
    p.add_argument("--readers", type=int, default=1,
                   help="users reading GET /users/ beside each writing user (default 1; 0: writes only)")
    p.add_argument("--no-chart", dest="chart", action="store_false")
    args = p.parse_args(argv)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.configs if c not in names]
    if unknown or not args.configs:
        p.error(f"unknown configuration(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(names)}")
    return args


def main(argv):
    args = parse_args(argv)
    for path, what in ((BINARY, "build it with make"), (STACK, "deploy/stack.sh")):
        if not os.access(path, os.X_OK):
            say(f"demo: {path} is missing or not executable ({what})")
            return 1
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    return Demo(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
