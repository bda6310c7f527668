#!/usr/bin/python3
"""The "database is locked" failure and its fix, side by side (make demo).

    /usr/bin/python3 bench/demo.py [--users 10] [--duration 10s] [--workers N]
        [--out var/demo] [--configs NAME,...] [--readers 1]
        [--postgres-url URL] [--no-chart]

Each configuration of CONFIGS is a profile of the service and the settings it
changes from that profile's defaults, nothing more: "tuned" changes nothing,
it is the service as it ships. For each, on a fresh database and a freshly
started stack (deploy/local/stack.sh: nginx on a free 127.0.0.1 port,
spawn-fcgi + multiwatch workers) under OUT/NAME/, it runs locust headless
with bench/load/locustfile.py, lets the requests in flight finish (locust's
--stop-timeout, then nginx's graceful stop), and counts the users in the
database and the 2xx /create_user/ lines in nginx's access log. The
"postgresql" row runs the service as it ships on PostgreSQL: on a server the
demo starts (harness/postgres.py: Debian's PostgreSQL 15, initdb + pg_ctl in
a temporary directory, a free loopback port) and stops at the end, or on the
fresh database --postgres-url names; its users are counted there. Then it
prints one table and writes OUT/results.md, results.csv, errors.csv and
results.png (gnuplot).

The service is build/sqlite-fcgi (or $SQLITE_FCGI), copied to OUT/bin/ first.
A row's settings are what `sqlite-fcgi config` says in its environment
(OUT/NAME/config.txt): the caller's SQLITE_*, HASH_WHEN, WRITE_LOCK_WAIT and
DATABASE_URL are ignored; WORKERS (or --workers), WEB_CONCURRENCY,
HASH_METHOD and HASH_COST pass through. Exit status: 0 when every
configuration ran and every file was written, 1 when one did not (the table
says which and why), 2 on bad arguments, 130 on Ctrl-C (which stops the load
and the stack that were running).
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import interrupts
from harness.cli import load_parser, names, positive_int
from harness.load import Locust
from harness.paths import BINARY as BUILT, ROOT
from harness.plot import Panel, bar_chart
from harness.postgres import OnDemand, query_url
from harness.report import markdown_table, machine, ms, publish, say, write_csv, written
from harness.session import Outcome, Session
from harness.settings import parse_config
from harness.stack import Stack

# The service: SQLITE_FCGI if set, else the one make builds. The demo runs a
# copy of it (OUT/bin/), so that a rebuild meanwhile cannot mix two versions.
BINARY = Path(os.environ.get("SQLITE_FCGI") or BUILT).resolve()
# What passes through from the caller's environment (every other setting is
# cleared: harness/stack.py).
PASSED = ("WORKERS", "WEB_CONCURRENCY", "HASH_METHOD", "HASH_COST")
# The settings the table shows for each row, as `sqlite-fcgi config` printed them.
SHOWN = ("SQLITE_PROFILE", "SQLITE_JOURNAL_MODE", "SQLITE_SYNCHRONOUS",
         "SQLITE_BUSY_TIMEOUT_MS", "SQLITE_TXN", "HASH_WHEN", "WRITE_LOCK_WAIT",
         "DATABASE_URL")


@dataclass
class Config:
    name: str
    description: str
    changes: dict = field(default_factory=dict)  # from the profile's defaults
    postgresql: bool = False  # DATABASE_URL: a fresh PostgreSQL database


# The fix, one piece at a time, from Django's defaults (the django-default
# profile) to the service as it ships. Each row after wal-only changes one
# setting of the one before it (wal-only and immediate-only: one piece alone,
# without the busy timeout); tuned changes nothing of the tuned profile.
DJANGO = {"SQLITE_PROFILE": "django-default"}
WAL_BUSY = dict(DJANGO, SQLITE_JOURNAL_MODE="wal")
WAL_BUSY_IMMEDIATE = dict(WAL_BUSY, SQLITE_TXN="immediate")
HASH_BEFORE_BEGIN = dict(WAL_BUSY_IMMEDIATE, HASH_WHEN="before-begin")
CONFIGS = [
    Config("django-default", "Django's defaults: rollback journal, busy timeout 5 s, "
           "deferred BEGIN, hash inside the transaction", DJANGO),
    Config("wal-only", "WAL alone: deferred BEGIN, no busy timeout",
           dict(DJANGO, SQLITE_JOURNAL_MODE="wal", SQLITE_BUSY_TIMEOUT_MS="0")),
    Config("immediate-only", "BEGIN IMMEDIATE alone: rollback journal, no busy timeout",
           dict(DJANGO, SQLITE_TXN="immediate", SQLITE_BUSY_TIMEOUT_MS="0")),
    Config("wal-busy", "WAL + busy timeout 5 s, deferred BEGIN", WAL_BUSY),
    Config("wal-busy-immediate", "WAL + busy timeout 5 s + BEGIN IMMEDIATE, "
           "hash inside the transaction", WAL_BUSY_IMMEDIATE),
    Config("hash-before-begin", "the fix with writers waiting in SQLite's busy handler: "
           "WAL + busy timeout 5 s + BEGIN IMMEDIATE, hash before BEGIN", HASH_BEFORE_BEGIN),
    Config("tuned", "the service as it ships (the tuned profile, nothing changed): "
           "the fix, writers queued by flock"),
    Config("postgresql", "the service as it ships, on PostgreSQL 15: hash before BEGIN, "
           "busy timeout 5 s as lock_timeout", postgresql=True),
]


@dataclass
class Row:
    config: Config
    settings: dict = field(default_factory=dict)  # sqlite-fcgi config's
    outcome: Outcome = field(default_factory=Outcome)


class Demo:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.configs = [c for c in CONFIGS if c.name in args.configs]
        self.session = Session(self.out)
        self.load = Locust(args.users, args.seconds, readers=args.readers)
        self.binary = self.out / "bin" / "sqlite-fcgi"
        self.rows = []
        # The postgresql row's database: --postgres-url's, or on a server of the demo's own.
        self.pg = OnDemand(self.session, args.postgres_url)

    def run_config(self, index, cfg):
        label = f"[{index}/{len(self.configs)}] {cfg.name}"
        row = Row(cfg)
        self.rows.append(row)
        settings = dict(cfg.changes, SQLITE_FCGI=self.binary)
        settings.update({k: os.environ[k] for k in PASSED if os.environ.get(k)})
        if self.args.workers:
            settings["WORKERS"] = self.args.workers
        count_users = None
        if cfg.postgresql:
            try:
                url = settings["DATABASE_URL"] = self.pg.fresh_url()
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                row.outcome.problem = f"PostgreSQL: {str(e).strip().splitlines()[0]}"
                say(f"{label}: {row.outcome.problem}")
                return
            count_users = lambda: int(query_url(url, "SELECT count(*) FROM auth_user"))  # noqa: E731
        run_dir = self.out / cfg.name
        stack = Stack(run_dir, **settings)
        self.session.fresh_dir(run_dir, stack)
        config = stack.config()
        (run_dir / "config.txt").write_text(config.stdout + config.stderr)
        if config.returncode != 0:
            row.outcome.problem = f"settings refused: {config.stderr.strip()}"
            say(f"{label}: {row.outcome.problem}")
            return
        row.settings = parse_config(config.stdout)
        say(f"{label}: starting the stack ("
            + " ".join(f"{k}={row.settings[k]}" for k in SHOWN if row.settings.get(k)) + ")")
        row.outcome = self.session.run_one(label, run_dir, stack, self.load, count_users)

    def run_all(self):
        for i, cfg in enumerate(self.configs, 1):
            self.run_config(i, cfg)

    def run(self):
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BINARY, f"{self.binary}.tmp")
        os.replace(f"{self.binary}.tmp", self.binary)
        n, each = len(self.configs), self.args.seconds + 5
        say(f"demo: {n} configurations, {self.load.describe()} each "
            f"(about {n * each // 60} min {n * each % 60} s); output in {self.out}")
        if not self.session.run(self.run_all):
            return interrupts.EXIT_STATUS
        ok = Report(self).write()
        return 0 if ok and not any(r.outcome.problem for r in self.rows) else 1


class Report:
    HEADER = ["configuration", "requests", "failures (%)", "req/s", "p50 (ms)",
              "p95 (ms)", "p99 (ms)", "users in DB", "2xx in nginx log",
              "reads", "read failures", "read p50 (ms)", "read p99 (ms)"]
    CSV_HEADER = ["configuration", *SHOWN, "users", "duration_s", "requests", "failures",
                  "failure_pct", "req_per_s", "p50_ms", "p95_ms", "p99_ms", "users_in_db",
                  "nginx_2xx", "problem", "reads", "read_failures", "read_p50_ms", "read_p99_ms"]

    def __init__(self, demo):
        self.demo = demo
        self.rows = demo.rows
        self.out = demo.out

    @staticmethod
    def failure_pct(t):
        return 100.0 * t.failures / t.requests if t.requests else 0.0

    def row(self, r):
        o, t, reads = r.outcome, r.outcome.of(), r.outcome.of("users/")
        if o.problem and not t.requests:
            return [r.config.name, *["-"] * 7, f"FAILED: {o.problem}", *["-"] * 4]
        cells = [r.config.name, str(t.requests), f"{t.failures} ({self.failure_pct(t):.1f}%)",
                 f"{t.rps:.1f}", ms(t.p50), ms(t.p95), ms(t.p99),
                 "-" if o.users_in_db is None else str(o.users_in_db), str(o.answers_2xx)]
        if o.users_in_db is not None and o.users_in_db != o.answers_2xx:
            cells[-1] += " (MISMATCH)"
        if reads.requests:
            return cells + [str(reads.requests), str(reads.failures), ms(reads.p50), ms(reads.p99)]
        return cells + ["-"] * 4

    def text(self):
        a = self.demo.args
        first = next((r.settings for r in self.rows if r.settings), {})
        pg = [f"PostgreSQL {self.demo.pg.version}"] if self.demo.pg.version else []
        lines = [
            f"USERS={a.users} DURATION={a.seconds}s "
            + " ".join(f"{k}={first.get(k, '?')}" for k in ("WORKERS", "HASH_METHOD", "HASH_COST"))
            + f"; {machine(self.demo.session.load_before, *pg)}",
            "", markdown_table(self.HEADER, [self.row(r) for r in self.rows]), "",
            "Errors (locust's failures, by configuration):", ""]
        errors = [[r.config.name, prefix + e, str(n)] for r in self.rows
                  for prefix, name in (("", "create_user/"), ("read: ", "users/"))
                  for e, n in r.outcome.of(name).errors]
        lines.append(markdown_table(["configuration", "error", "count"], errors)
                     if errors else "none")
        lines += ["", "nginx statuses of /create_user/ (access log):", "",
                  markdown_table(["configuration", "statuses"], [
                      [r.config.name, ", ".join(f"{s}: {n}" for s, n in
                                                sorted(r.outcome.statuses.items())) or "-"]
                      for r in self.rows]),
                  "", "Settings of each configuration (as `sqlite-fcgi config` printed them):", "",
                  markdown_table(["configuration", "settings", "what it is"], [
                      [r.config.name, " ".join(f"{k}={r.settings[k]}" for k in SHOWN
                                               if r.settings.get(k)), r.config.description]
                      for r in self.rows])]
        problems = [f"- {r.config.name}: {r.outcome.problem}" for r in self.rows
                    if r.outcome.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def csv_row(self, r):
        a, o, t, reads = self.demo.args, r.outcome, r.outcome.of(), r.outcome.of("users/")
        return [r.config.name, *(r.settings.get(k, "") for k in SHOWN), a.users, a.seconds,
                t.requests, t.failures, f"{self.failure_pct(t):.2f}", f"{t.rps:.2f}",
                ms(t.p50), ms(t.p95), ms(t.p99), "" if o.users_in_db is None else o.users_in_db,
                o.answers_2xx, o.problem, reads.requests, reads.failures,
                "" if reads.p50 is None else ms(reads.p50),
                "" if reads.p99 is None else ms(reads.p99)]

    def chart(self):
        """results.png: req/s and failure % per configuration; an error or ""."""
        a, ts = self.demo.args, [r.outcome.of() for r in self.rows]
        return bar_chart(
            self.out / "results.png",
            f"sqlite-fcgi: {a.users} locust users, {a.seconds} s per configuration",
            [r.config.name for r in self.rows], [
                # Fast failures can outnumber answers a hundredfold: a log
                # scale keeps both readable.
                Panel("requests/s, log scale (all answers, and the 2xx among them)", [
                    ("all requests/s", [t.rps for t in ts], "#8fb3d9"),
                    ("2xx (users created)/s",
                     [t.rps * (t.requests - t.failures) / t.requests if t.requests else 0.0
                      for t in ts], "#2f6fb0")], log=True, ymin=0.5, labels=True),
                Panel("failures, % of requests (lower is better)", [
                    ("failures", [self.failure_pct(t) for t in ts], "#c0392b")],
                    ymax=105, labels=True)],
            xtics="rotate by -25 scale 0")

    def write(self):
        paths = [publish(self.out, self.text()),
                 write_csv(self.out / "results.csv", self.CSV_HEADER,
                           [self.csv_row(r) for r in self.rows]),
                 write_csv(self.out / "errors.csv", ["configuration", "error", "count"],
                           [[r.config.name, e, n] for r in self.rows
                            for e, n in r.outcome.of().errors])]
        ok = True
        if self.demo.args.chart:
            err = self.chart()
            if err:
                say(f"\nchart: {err}")
                ok = False
            else:
                paths.append(self.out / "results.png")
        written(paths)
        return ok


def parse_args(argv):
    known = [c.name for c in CONFIGS]
    p = load_parser(__doc__, ROOT / "var" / "demo", "configuration")
    p.add_argument("--workers", type=positive_int("WORKERS"), default=None,
                   help="worker processes (default: WORKERS from the environment, else the "
                   "service's default)")
    p.add_argument("--configs", type=names("configurations", known), default=known,
                   help="comma-separated, from: " + ", ".join(known))
    p.add_argument("--readers", type=int, default=1,
                   help="users reading GET /users/ beside each writing user (default 1; "
                   "0: writes only)")
    p.add_argument("--postgres-url", default=None,
                   help="the postgresql row on this fresh database instead of a server of "
                   "the demo's own")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if not os.access(BINARY, os.X_OK):
        say(f"demo: {BINARY} is missing or not executable (build it with make)")
        return 1
    interrupts.catch()
    return Demo(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
