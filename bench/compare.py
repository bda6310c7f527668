#!/usr/bin/python3
"""The original Django app and sqlite-fcgi under the same load (make compare).

    PYTHONPATH=. /usr/bin/python3 bench/compare.py [--users 10] [--duration 10s]
        [--hashes default,cheap] [--tools locust,wrk] [--stacks NAME,...]
        [--out var/compare] [--hash-seconds 1]

Four stacks, each on a fresh database and freshly started on a free
127.0.0.1 port under OUT/<hash>/<tool>/<stack>/:

  django-default      the seed's view (bench/django) under gunicorn, workers =
                      CPUs + 1, threads = 2 x CPUs, Django's SQLite settings
  django-fixed        the same with the fix as a Django user applies it: WAL,
                      busy timeout 5 s, BEGIN IMMEDIATE (a backend override)
  fcgi-django-default sqlite-fcgi, SQLITE_PROFILE=django-default
  fcgi-tuned          sqlite-fcgi, SQLITE_PROFILE=tuned (what it ships)

each under the locust run of make demo (tests/load/locustfile.py), then,
on another fresh database and stack, under wrk with as many connections as
locust has users, for as long; at the default hashes (Django: PBKDF2 at its iteration count; sqlite-fcgi: yescrypt)
and at cheap ones (Django: PBKDF2 at 1000 iterations; sqlite-fcgi:
sha512crypt, 1000 rounds). The cost of one hash on each side is measured
first, so that the rates can be read against each side's hash ceiling
(CPUs x 1000 / ms a hash).

Per stack and load: requests, failures (and their kinds; for Django, the
exceptions its error log names), req/s, p50/p99/p99.9; the users in the
database against the 2xx answers in the server's access log; the peak of
the summed RSS of the server's processes (gunicorn's master and workers;
nginx, multiwatch and the sqlite-fcgi workers), sampled twice a second; and
their CPU time (user + system, from /proc) per 1000 users created. Writes
OUT/results.md, OUT/results.csv and OUT/results.png (gnuplot). Exit status: 0 when every run finished,
1 when one did not (the table says which and why), 2 on bad arguments, 130
on Ctrl-C (which stops the load and the stack that were running).
"""

import argparse
import csv
import math
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from demo import Report, parse_duration, positive_int
from plot import histogram_preamble, run_gnuplot
from tests.harness import locust
from tests.harness.accesslog import create_statuses
from tests.harness.django_app import APP_DIR, DjangoApp
from tests.harness.sqlite_files import user_count
from tests.harness.stack import ROOT, Stack
from tests.harness import wrk

PYTHON = "/usr/bin/python3"
CPUS = os.cpu_count() or 1
WORKERS = CPUS + 1  # sqlite-fcgi's default, and gunicorn's workers in the seed
CEILINGS = ROOT / "build" / "ceilings"
# As make demo: locust lets each user finish the request it is in.
STOP_TIMEOUT_S = 60
SAMPLE_EVERY_S = 0.5
TICK = os.sysconf("SC_CLK_TCK")

# name -> (side, settings, what it is)
STACKS = {
    "django-default": ("django", {"sqlite": "default"},
                       "Django's SQLite settings (rollback journal, 5 s timeout, deferred BEGIN)"),
    "django-fixed": ("django", {"sqlite": "fixed"},
                     "WAL + synchronous=NORMAL + 5 s timeout + BEGIN IMMEDIATE (backend override)"),
    "fcgi-django-default": ("fcgi", {"SQLITE_PROFILE": "django-default"},
                            "sqlite-fcgi, SQLITE_PROFILE=django-default"),
    "fcgi-tuned": ("fcgi", {"SQLITE_PROFILE": "tuned"},
                   "sqlite-fcgi, SQLITE_PROFILE=tuned (its defaults)"),
}
# hash run -> (Django's settings, sqlite-fcgi's settings, how to say them)
HASHES = {
    "default": ({"hash": "default"}, {},
                ("Django: PBKDF2-SHA256, Django's iterations", "sqlite-fcgi: yescrypt, libxcrypt's cost")),
    "cheap": ({"hash": "cheap"}, {"HASH_METHOD": "sha512crypt", "HASH_COST": "1000"},
              ("Django: PBKDF2-SHA256, 1000 iterations", "sqlite-fcgi: sha512crypt, 1000 rounds")),
}

# load -> how the table says it
TOOLS = {
    "locust": "locust -u {users} -t {seconds}s (make demo's run; failures as locust named them)",
    "wrk": "wrk -c {users} -d {seconds}s (failures: the non-2xx statuses in the server's access log; "
           "\"+N cut off\": users created by requests wrk dropped at its deadline, which gunicorn "
           "does not log)",
}


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


def _interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def say(msg):
    print(msg, flush=True)


@dataclass
class Result:
    hash: str
    tool: str  # "locust" or "wrk"
    name: str
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50: float = None
    p99: float = None
    p999: float = None
    errors: list = field(default_factory=list)  # (failure, count): locust's, or wrk's statuses
    causes: Counter = field(default_factory=Counter)  # Django's logged exceptions
    users_in_db: int = None
    answers_2xx: int = 0
    peak_rss_kb: int = 0
    cpu_s: float = 0.0
    problem: str = ""


# ---- the server's processes, from /proc ----------------------------------

def descendants(roots):
    """roots and every process below them (pgrep -P, level by level)."""
    seen, level = [], list(roots)
    while level:
        seen += level
        out = subprocess.run(["pgrep", "-P", ",".join(map(str, level))],
                             capture_output=True, text=True)
        level = [int(p) for p in out.stdout.split() if int(p) not in seen]
    return seen


def cpu_ticks(pid):
    """utime + stime + cutime + cstime (children reaped by it count too)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15])


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_snapshot(roots):
    snap = {p: cpu_ticks(p) for p in descendants(roots)}
    return {p: t for p, t in snap.items() if t is not None}


def cpu_seconds(before, after):
    """CPU used between two snapshots, by the processes alive at the second."""
    return sum(t - before.get(p, 0) for p, t in after.items()) / TICK


def wait_idle(roots, timeout=30):
    """Waits until the server's processes use no CPU for a sample period:
    what a load left in flight has been answered (bounded by timeout)."""
    deadline = time.monotonic() + timeout
    before = sum(cpu_snapshot(roots).values())
    while time.monotonic() < deadline:
        time.sleep(SAMPLE_EVERY_S)
        now = sum(cpu_snapshot(roots).values())
        if now == before:
            return
        before = now


# ---- the stacks ----------------------------------------------------------

class Server:
    """A DjangoApp or a Stack behind one interface: start, stop, its pids,
    its access log."""

    def __init__(self, name, hash_name, run_dir):
        side, settings, _ = STACKS[name]
        django_hash, fcgi_hash, _ = HASHES[hash_name]
        self.side = side
        if side == "django":
            self.impl = DjangoApp(run_dir, **settings, **django_hash)
            self.access_log = self.impl.access_log_path
        else:
            self.impl = Stack(run_dir, WORKERS=WORKERS, **settings, **fcgi_hash)
            self.access_log = Path(run_dir) / "access.log"
        self.db_path = self.impl.db_path
        self.running = False

    def start(self):
        Path(self.impl.run_dir).mkdir(parents=True, exist_ok=True)
        self.running = True
        self.impl.start()

    def stop(self):
        if self.running:
            self.impl.stop()
            self.running = False

    def root_pids(self):
        if self.side == "django":
            return self.impl.root_pids()
        return [self.impl.pid("nginx"), self.impl.pid("workers")]


# ---- hash costs ----------------------------------------------------------

def hash_costs(hash_name, seconds):
    """{"django": (ms, hashes/s ceiling), "fcgi": (ms, ceiling)}, and Django's version."""
    django_hash, fcgi_hash, _ = HASHES[hash_name]
    env = {k: v for k, v in os.environ.items() if k not in ("HASH_METHOD", "HASH_COST")}
    env.update(COMPARE_DB_PATH=os.devnull, COMPARE_DJANGO_HASH=django_hash["hash"],
               PYTHONPATH=str(APP_DIR))
    out = subprocess.run([PYTHON, str(APP_DIR / "hash_cost.py"), str(seconds)], env=env,
                         cwd=APP_DIR, capture_output=True, text=True, timeout=120, check=True)
    d = dict(line.split("=", 1) for line in out.stdout.split())
    env = {k: v for k, v in os.environ.items() if k not in ("HASH_METHOD", "HASH_COST")}
    env.update(fcgi_hash, BENCH_SECONDS=str(seconds))
    out = subprocess.run([str(CEILINGS)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    f = {k: float(v) for k, v in (line.split("=") for line in out.stdout.split())}
    django_ms = float(d["hash_ms"])
    # One rule on both sides: one hashing process per CPU, each at the cost
    # of one call measured alone. (yescrypt is memory-hard, so its real
    # ceiling is somewhat lower; make bench measures that one.)
    return ({"django": (django_ms, CPUS * 1000 / django_ms),
             "fcgi": (f["hash_ms"], CPUS * 1000 / f["hash_ms"])}, d["django"])


# ---- one run -------------------------------------------------------------

class Compare:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.results = []
        self.costs = {}
        self.django_version = "?"
        self.server = None
        self.load = None

    def run_locust(self, result, label, server, run_dir):
        prefix = run_dir / "locust"
        port = server.impl.port
        cmd = [PYTHON, "-m", "locust", "-f", str(locust.LOCUSTFILE), "--headless",
               "-u", str(self.args.users), "-r", str(self.args.users),
               "-t", f"{self.args.seconds}s", "--stop-timeout", str(STOP_TIMEOUT_S),
               "--host", f"http://127.0.0.1:{port}/", "--csv", str(prefix), "--only-summary"]
        roots = server.root_pids()
        before = cpu_snapshot(roots)
        log_path = run_dir / "locust.log"
        with open(log_path, "wb") as log:
            self.load = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            rc = self.watch_load(result, label, roots, self.args.seconds + STOP_TIMEOUT_S + 30,
                                 f"locust (see {log_path})",
                                 "time is up, waiting for the requests in flight")
        # Every answer is in: locust waited for the requests in flight.
        result.cpu_s = cpu_seconds(before, cpu_snapshot(roots))
        if result.problem:
            return
        if rc not in (0, 1):  # 1: the run had failures, which is a result
            result.problem = f"locust exited with status {rc} (see {log_path})"
            return
        t = locust.totals(prefix)
        result.requests, result.failures, result.rps = t.requests, t.failures, t.rps
        result.p50, result.p99, result.p999, result.errors = t.p50, t.p99, t.p999, t.errors

    def watch_load(self, result, label, roots, limit, what, at_the_end):
        """Waits for self.load, sampling the server's memory and saying how
        long is left; kills it past limit seconds (result.problem says so).
        Its exit status."""
        start, shown = time.monotonic(), None
        while self.load.poll() is None:
            elapsed = time.monotonic() - start
            if elapsed > limit:
                self.load.kill()
                self.load.wait()
                result.problem = f"{what} did not finish within {limit} s"
                break
            result.peak_rss_kb = max(result.peak_rss_kb,
                                     sum(rss_kb(p) for p in descendants(roots)))
            left = max(0, math.ceil(self.args.seconds - elapsed))
            if left != shown and (left % 5 == 0 or left == 0):
                say(f"{label}: {left} s left" if left else f"{label}: {at_the_end}")
                shown = left
            time.sleep(SAMPLE_EVERY_S)
        rc, self.load = self.load.returncode, None
        return rc

    def run_wrk(self, result, label, server, run_dir):
        """wrk -c USERS for the same time, sampling the server's memory."""
        roots = server.root_pids()
        before = cpu_snapshot(roots)
        out_path, err_path = run_dir / "wrk.out", run_dir / "wrk.err"
        limit = self.args.seconds + 60  # wrk stops itself at -d; the rest is margin
        with open(out_path, "w") as out, open(err_path, "w") as err:
            self.load = subprocess.Popen(
                wrk.command(server.impl.url("/create_user/"), self.args.users, self.args.seconds),
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True)
            rc = self.watch_load(result, label, roots, limit, "wrk", "time is up")
        # wrk closes its connections at the deadline: let the server finish
        # what they had asked.
        wait_idle(roots)
        result.cpu_s = cpu_seconds(before, cpu_snapshot(roots))
        if result.problem:
            return
        if rc != 0:
            result.problem = f"wrk exited with status {rc} (see {err_path})"
            return
        try:
            r = wrk.summary(out_path.read_text(), err_path.read_text())
        except RuntimeError as e:
            result.problem = f"wrk printed no report (see {out_path}): {str(e).splitlines()[0]}"
            return
        result.requests, result.failures, result.rps = r["requests"], r["failures"], r["rps"]
        result.p50, result.p99, result.p999 = r["p50_ms"], r["p99_ms"], r["p999_ms"]

    def run_one(self, index, total, hash_name, tool, name):
        label = f"[{index}/{total}] {hash_name} hash, {tool}, {name}"
        result = Result(hash_name, tool, name)
        self.results.append(result)
        run_dir = self.out / hash_name / tool / name
        if run_dir.exists():
            subprocess.run(["rm", "-rf", str(run_dir)], check=True)
        run_dir.mkdir(parents=True)
        server = Server(name, hash_name, run_dir)
        self.server = server
        say(f"{label}: starting ({STACKS[name][2]})")
        try:
            server.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            result.problem = f"did not start: {str(e).strip().splitlines()[0]}"
            say(f"{label}: {result.problem}")
            self.stop_server()
            return
        say(f"{label}: up on 127.0.0.1:{server.impl.port}, " + (
            f"locust -u {self.args.users} -t {self.args.seconds}s" if tool == "locust" else
            f"wrk -c {self.args.users} -d {self.args.seconds}s"))
        try:
            if tool == "locust":
                self.run_locust(result, label, server, run_dir)
            else:
                self.run_wrk(result, label, server, run_dir)
        except (OSError, ValueError, KeyError) as e:
            result.problem = f"locust's results could not be read: {e}"
        if not self.stop_server():
            result.problem = result.problem or "the stack did not stop cleanly"
        try:
            result.users_in_db = user_count(str(server.db_path))
            statuses = create_statuses(str(server.access_log))
            result.answers_2xx = sum(n for s, n in statuses.items() if 200 <= s < 300)
            if tool == "wrk":  # its failures by the status the server logged
                result.errors = [(str(s), n) for s, n in statuses.most_common() if s >= 300]
        except (OSError, sqlite3.Error) as e:
            result.problem = result.problem or f"could not count the server's records: {e}"
        if server.side == "django":
            result.causes = server.impl.exceptions()
        say(f"{label}: {result.requests} requests, {result.failures} failures, "
            f"{result.rps:.1f} req/s, users in DB {result.users_in_db}, 2xx {result.answers_2xx}"
            + (f"; {result.problem}" if result.problem else ""))

    def stop_server(self):
        server, self.server = self.server, None
        if server is None:
            return True
        try:
            server.stop()
            return True
        except (AssertionError, RuntimeError, OSError, subprocess.SubprocessError) as e:
            say(f"stopping {server.impl.run_dir}: {e}")
            return False

    def cleanup(self):
        """Stops the load (locust or wrk) and the stack in progress; a second Ctrl-C
        meanwhile is ignored, so that nothing is left running."""
        previous = {s: signal.signal(s, lambda *_: say("stopping: please wait"))
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            if self.load is not None and self.load.poll() is None:
                self.load.terminate()
                try:
                    self.load.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.load.kill()
                    self.load.wait()
            self.load = None
            self.stop_server()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def run(self):
        self.load_before = os.getloadavg()[0]
        self.out.mkdir(parents=True, exist_ok=True)
        plan = [(h, t, n) for h in self.args.hashes for t in self.args.tools
                for n in self.args.stacks]
        say(f"compare: {len(plan)} runs ({', '.join(self.args.tools)}) of {self.args.users} "
            f"users for {self.args.seconds} s each; output in {self.out}")
        try:
            for h in self.args.hashes:
                say(f"compare: the cost of one hash ({h}) on each side ...")
                self.costs[h], self.django_version = hash_costs(h, self.args.hash_seconds)
                for side, (ms, ceiling) in self.costs[h].items():
                    say(f"compare:   {side}: {ms:.3f} ms a hash, {ceiling:.1f} hashes/s on {CPUS} CPUs")
            for i, (h, t, n) in enumerate(plan, 1):
                self.run_one(i, len(plan), h, t, n)
        except Interrupted:
            self.cleanup()
            say("\ninterrupted: stopped the load and the stack; no table written")
            return 130
        except subprocess.SubprocessError as e:
            self.cleanup()
            say(f"compare: {e}")
            return 1
        self.cleanup()
        self.write()
        return 0 if not any(r.problem for r in self.results) else 1

    # ---- the report ------------------------------------------------------

    HEADER = ["stack", "requests", "failures (%)", "failure kinds", "req/s", "p50 ms",
              "p99 ms", "p99.9 ms", "users in DB", "2xx answers", "users/s (% of hash ceiling)",
              "peak RSS MiB", "CPU s / 1000 users"]

    def row(self, r):
        if r.problem and not r.requests:
            return [r.name] + ["-"] * (len(self.HEADER) - 2) + [f"FAILED: {r.problem}"]
        pct = 100.0 * r.failures / r.requests if r.requests else 0.0
        kinds = "; ".join(f"{short_kind(e)} x{n}" for e, n in r.errors) or "-"
        if r.causes:
            kinds += " (logged: " + "; ".join(f"{c} x{n}" for c, n in r.causes.most_common()) + ")"
        side = STACKS[r.name][0]
        ceiling = self.costs[r.hash][side][1]
        created = r.users_in_db or 0
        # locust's req/s is over the whole run, the drain included: the same span.
        users_s = created * r.rps / r.requests if r.requests else 0.0
        cells = [r.name, str(r.requests), f"{r.failures} ({pct:.1f}%)", kinds, f"{r.rps:.1f}",
                 ms(r.p50), ms(r.p99), ms(r.p999),
                 "-" if r.users_in_db is None else str(r.users_in_db), str(r.answers_2xx),
                 f"{users_s:.1f} ({100 * users_s / ceiling:.0f}%)",
                 f"{r.peak_rss_kb / 1024:.0f}",
                 f"{1000 * r.cpu_s / created:.1f}" if created else "-"]
        gap = None if r.users_in_db is None else r.users_in_db - r.answers_2xx
        if gap and r.tool == "wrk" and 0 < gap <= self.args.users:
            # wrk drops its connections at its deadline: gunicorn logs no
            # line for an answer it could not send (nginx logs what the
            # worker answered). At most one such request per connection.
            cells[9] += f" (+{gap} cut off)"
        elif gap:
            cells[9] += " (MISMATCH)"
        return cells

    def machine(self):
        cpu = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        gunicorn = subprocess.run([PYTHON, "-c", "import gunicorn; print(gunicorn.__version__)"],
                                  capture_output=True, text=True).stdout.strip() or "?"
        return (f"{CPUS} CPUs ({cpu}), Linux {platform.release()}, SQLite {sqlite3.sqlite_version}, "
                f"Python {platform.python_version()}, Django {self.django_version}, "
                f"gunicorn {gunicorn} ({WORKERS} workers x {2 * CPUS} threads), "
                f"sqlite-fcgi {WORKERS} workers behind nginx; load average "
                f"{self.load_before:.2f} before the run and {os.getloadavg()[0]:.2f} after")

    def text(self):
        a = self.args
        lines = [f"USERS={a.users} DURATION={a.seconds}s; {self.machine()}", ""]
        for h in a.hashes:
            if h not in self.costs:
                continue
            (dj_ms, dj_ceil), (fc_ms, fc_ceil) = self.costs[h]["django"], self.costs[h]["fcgi"]
            dj_what, fc_what = HASHES[h][2]
            lines += [f"{h} hashes: {dj_what}, {dj_ms:.2f} ms a hash, ceiling {dj_ceil:.1f}/s; "
                      f"{fc_what}, {fc_ms:.2f} ms a hash, ceiling {fc_ceil:.1f}/s", ""]
            for t in a.tools:
                rows = [self.row(r) for r in self.results if r.hash == h and r.tool == t]
                if rows:
                    lines += [TOOLS[t].format(users=a.users, seconds=a.seconds) + ":", "",
                              Report.markdown_table(self.HEADER, rows), ""]
        lines += ["Stacks:", ""]
        lines += [f"- {n}: {STACKS[n][2]}" for n in a.stacks]
        problems = [f"- {r.hash} hash, {r.tool}, {r.name}: {r.problem}"
                    for r in self.results if r.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def write(self):
        text = self.text()
        print()
        print(text, end="", flush=True)
        (self.out / "results.md").write_text(text)
        with open(self.out / "results.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["hash", "tool", "stack", "users", "duration_s", "requests", "failures", "req_per_s",
                        "p50_ms", "p99_ms", "p999_ms", "users_in_db", "answers_2xx", "hash_ms",
                        "hash_ceiling_per_s", "peak_rss_kb", "cpu_s", "failure_kinds",
                        "logged_exceptions", "problem"])
            for r in self.results:
                ms_, ceiling = self.costs[r.hash][STACKS[r.name][0]]
                w.writerow([r.hash, r.tool, r.name, self.args.users, self.args.seconds, r.requests,
                            r.failures, f"{r.rps:.2f}", ms(r.p50), ms(r.p99), ms(r.p999),
                            "" if r.users_in_db is None else r.users_in_db, r.answers_2xx,
                            f"{ms_:.3f}", f"{ceiling:.1f}", r.peak_rss_kb, f"{r.cpu_s:.2f}",
                            "; ".join(f"{e} x{n}" for e, n in r.errors),
                            "; ".join(f"{c} x{n}" for c, n in r.causes.most_common()),
                            r.problem])
        written = [self.out / "results.md", self.out / "results.csv"]
        if self.args.chart:
            err = self.write_chart()
            if err:
                say(f"\nchart: {err}")
            else:
                written.append(self.out / "results.png")
        say("\nwritten: " + ", ".join(map(str, written)))

    def write_chart(self):
        """results.png: users created/s and failure % per stack, one bar per
        hash and load; an error or ""."""
        series = [(h, t) for h in self.args.hashes for t in self.args.tools
                  if any(r.hash == h and r.tool == t for r in self.results)]
        by_key = {(r.hash, r.tool, r.name): r for r in self.results}
        dat = self.out / "results.dat"
        with open(dat, "w") as f:
            for n in self.args.stacks:
                cells = [f'"{n}"']
                for h, t in series:
                    r = by_key.get((h, t, n))
                    ok = r is not None and r.requests and r.users_in_db is not None
                    cells.append(f"{r.users_in_db * r.rps / r.requests:.1f}" if ok else "NaN")
                    cells.append(f"{100.0 * r.failures / r.requests:.1f}" if ok else "NaN")
                f.write("\t".join(cells) + "\n")
        users_plot = ", ".join(
            f"'{dat}' using {2 + 2 * i}{':xtic(1)' if i == 0 else ''} title '{h} hash, {t}'"
            for i, (h, t) in enumerate(series))
        fail_plot = ", ".join(
            f"'{dat}' using {3 + 2 * i}{':xtic(1)' if i == 0 else ''} title '{h} hash, {t}'"
            for i, (h, t) in enumerate(series))
        a = self.args
        script = histogram_preamble(self.out / "results.png") + f"""
set key top left
set multiplot layout 1,2 title 'Django + gunicorn and sqlite-fcgi: {a.users} users, {a.seconds} s per run'
# The rates span three orders of magnitude: a log scale keeps all readable.
set title 'users created/s, log scale (higher is better)'
set logscale y
set yrange [0.1:*]
plot {users_plot}
unset logscale y
set title 'failures, % of requests (lower is better)'
set yrange [0:105]
plot {fail_plot}
unset multiplot
"""
        return run_gnuplot(script, self.out)


def short_kind(failure):
    """ "500 Server Error (500)" for "500 <!doctype html> ... <title>Server Error (500)</title> ...":
    an HTML error page named by its title."""
    m = re.match(r"(\d{3}) .*?<title>\s*(.*?)\s*</title>", failure, re.S | re.I)
    return f"{m.group(1)} {m.group(2)}" if m else failure


def ms(v):
    return "-" if v is None else f"{v:.0f}"


def names(kind, known):
    def parse(text):
        chosen = [c.strip() for c in text.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"{kind}: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
        return chosen
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=positive_int("USERS"), default=10)
    p.add_argument("--duration", dest="seconds", type=parse_duration, default=10,
                   help="per run: 10s, 1m, 1m30s (default 10s)")
    p.add_argument("--hashes", type=names("hashes", list(HASHES)), default=list(HASHES))
    p.add_argument("--stacks", type=names("stacks", list(STACKS)), default=list(STACKS))
    p.add_argument("--tools", type=names("tools", list(TOOLS)), default=list(TOOLS),
                   help="the loads, from: locust, wrk (default both)")
    p.add_argument("--hash-seconds", type=float, default=1.0,
                   help="how long each hash cost is measured (default 1)")
    p.add_argument("--out", default=str(ROOT / "var" / "compare"))
    p.add_argument("--no-chart", dest="chart", action="store_false")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    for path, what in ((ROOT / "build" / "sqlite-fcgi", "make all"), (CEILINGS, "make bench-build")):
        if not os.access(path, os.X_OK):
            say(f"compare: {path} is missing ({what} builds it)")
            return 1
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    return Compare(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
