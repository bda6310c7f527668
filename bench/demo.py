#!/usr/bin/python3
"""The "database is locked" failure and its fix, side by side (make demo).

    /usr/bin/python3 bench/demo.py [--users 10] [--duration 10s] [--workers N]
        [--out var/demo] [--configs NAME,...] [--readers 1]
        [--workloads create_user,matrix] [--postgres-url URL] [--no-chart]

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

The second workload (--workloads: create_user, matrix; both by default) is
upstream's endpoint matrix mix (bench/load/matrix_locustfile.py: read/ and
read_transaction/ weigh 10, each of the six writes 1) with the same users
for as long, each configuration again on a fresh database and stack under
OUT/matrix/NAME/: one more table, of the failures of each endpoint and
configuration, which shows which piece of the fix each endpoint needs, and
the rows in basic_model_row against the writes acknowledged
(OUT/matrix.csv).

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

from harness import interrupts, matrix
from harness.cli import add_postgres_url, load_parser, names, positive_int, run_tool
from harness.load import Locust
from harness.paths import BINARY as BUILT, ROOT
from harness.plot import Panel, bar_chart
from harness.postgres import OnDemand
from harness.report import (add_chart, markdown_table, machine, ms, publish, say, write_csv,
                            written)
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


# The workloads: the seed's /create_user/, and upstream's endpoint matrix.
CREATE_USER, MATRIX = "create_user", "matrix"
WORKLOADS = [CREATE_USER, MATRIX]


@dataclass
class Row:
    config: Config
    settings: dict = field(default_factory=dict)  # sqlite-fcgi config's
    outcome: Outcome = field(default_factory=Outcome)  # the /create_user/ workload
    mix: Outcome = None  # upstream's matrix mix, when it ran

    def outcomes(self):
        return [o for o in (self.outcome, self.mix) if o is not None]


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
        row = Row(cfg)
        self.rows.append(row)
        for workload in self.args.workloads:
            label = f"[{index}/{len(self.configs)}] {cfg.name}" + (
                "" if workload == CREATE_USER else f", {matrix.WHAT}")
            outcome = self.run_workload(label, row, workload)
            if workload == CREATE_USER:
                row.outcome = outcome
            else:
                row.mix = outcome

    def run_workload(self, label, row, workload):
        """One workload on a fresh stack of row's configuration; its Outcome."""
        cfg, outcome = row.config, Outcome()
        settings = dict(cfg.changes, SQLITE_FCGI=self.binary)
        settings.update({k: os.environ[k] for k in PASSED if os.environ.get(k)})
        if self.args.workers:
            settings["WORKERS"] = self.args.workers
        run_dir = self.out / cfg.name if workload == CREATE_USER else self.out / workload / cfg.name
        table = "auth_user" if workload == CREATE_USER else matrix.TABLE
        if cfg.postgresql:
            try:
                url = settings["DATABASE_URL"] = self.pg.fresh_url(table)
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                outcome.problem = f"PostgreSQL: {str(e).strip().splitlines()[0]}"
                say(f"{label}: {outcome.problem}")
                return outcome
        stack = Stack(run_dir, **settings)
        self.session.fresh_dir(run_dir, stack)
        config = stack.config()
        (run_dir / "config.txt").write_text(config.stdout + config.stderr)
        if config.returncode != 0:
            outcome.problem = f"settings refused: {config.stderr.strip()}"
            say(f"{label}: {outcome.problem}")
            return outcome
        row.settings = parse_config(config.stdout)
        say(f"{label}: starting the stack ("
            + " ".join(f"{k}={row.settings[k]}" for k in SHOWN if row.settings.get(k)) + ")")
        load = (self.load if workload == CREATE_USER
                else matrix.locust_load(self.args.users, self.args.seconds))
        count = (matrix.postgres_rows(url, table) if cfg.postgresql
                 else matrix.sqlite_rows(stack.db_path, table))
        return self.session.run_one(label, run_dir, stack, load, count)

    def run_all(self):
        for i, cfg in enumerate(self.configs, 1):
            self.run_config(i, cfg)

    def run(self):
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BINARY, f"{self.binary}.tmp")
        os.replace(f"{self.binary}.tmp", self.binary)
        n, each = len(self.configs), (self.args.seconds + 5) * len(self.args.workloads)
        say(f"demo: {n} configurations, {self.load.describe()} each"
            + (f", then {matrix.WHAT}" if MATRIX in self.args.workloads else "") + " "
            f"(about {n * each // 60} min {n * each % 60} s); output in {self.out}")
        if not self.session.run(self.run_all):
            return interrupts.EXIT_STATUS
        ok = Report(self).write()
        return 0 if ok and not any(o.problem for r in self.rows for o in r.outcomes()) else 1


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
            + f"; {machine(self.demo.session.load_before, *pg)}", ""]
        if CREATE_USER in a.workloads:
            lines += self.create_user_text()
        if MATRIX in a.workloads:
            lines += self.matrix_text()
        lines += ["Settings of each configuration (as `sqlite-fcgi config` printed them):", "",
                  markdown_table(["configuration", "settings", "what it is"], [
                      [r.config.name, " ".join(f"{k}={r.settings[k]}" for k in SHOWN
                                               if r.settings.get(k)), r.config.description]
                      for r in self.rows])]
        problems = [f"- {r.config.name}: {o.problem}" for r in self.rows for o in r.outcomes()
                    if o.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def create_user_text(self):
        lines = [markdown_table(self.HEADER, [self.row(r) for r in self.rows]), "",
                 "Errors (locust's failures, by configuration):", ""]
        errors = [[r.config.name, prefix + e, str(n)] for r in self.rows
                  for prefix, name in (("", "create_user/"), ("read: ", "users/"))
                  for e, n in r.outcome.of(name).errors]
        lines.append(markdown_table(["configuration", "error", "count"], errors)
                     if errors else "none")
        return lines + ["", "nginx statuses of /create_user/ (access log):", "",
                        markdown_table(["configuration", "statuses"], [
                            [r.config.name, ", ".join(f"{s}: {n}" for s, n in
                                                      sorted(r.outcome.statuses.items())) or "-"]
                            for r in self.rows]), ""]

    MATRIX_HEADER = ["configuration", "requests", "failures (%)", "req/s", "p99 (ms)",
                     "slowest write (ms)", "rows", "writes acknowledged"]

    def matrix_row(self, r):
        o = r.mix
        t = o.of("")
        if o.problem and not t.requests:
            return [r.config.name, *["-"] * (len(self.MATRIX_HEADER) + len(matrix.ENDPOINTS) - 2),
                    f"FAILED: {o.problem}"]
        acked = matrix.acknowledged(o)
        rows = "-" if o.users_in_db is None else str(o.users_in_db)
        if o.users_in_db is not None and o.users_in_db != acked:
            # Autocommit: a write_read/ whose read failed after its insert
            # committed (503 "after the row was written") leaves its row.
            rows += f" ({o.users_in_db - acked:+d})"
        return [r.config.name, str(t.requests),
                f"{t.failures} ({self.failure_pct(t):.1f}%)", f"{t.rps:.1f}", ms(t.p99),
                ms(matrix.worst_write_ms(o)), rows, str(acked),
                *(str(o.of(p).failures) for p in matrix.ENDPOINTS)]

    def matrix_text(self):
        a = self.demo.args
        ran = [r for r in self.rows if r.mix is not None]
        header = self.MATRIX_HEADER + [f"{p} failed" for p in matrix.ENDPOINTS]
        errors = [[r.config.name, p, e, str(n)] for r in ran for p in matrix.ENDPOINTS
                  for e, n in r.mix.of(p).errors]
        return [f"Upstream's matrix mix (bench/load/matrix_locustfile.py: read/ and "
                f"read_transaction/ 10 each, the six writes 1 each), locust -u {a.users} "
                f"-t {a.seconds}s, each configuration on a fresh stack and database; the "
                "failures of each endpoint show which piece of the fix it needs:", "",
                markdown_table(header, [self.matrix_row(r) for r in ran]), "",
                "Errors of the matrix mix (locust's failures, by configuration and endpoint):", "",
                markdown_table(["configuration", "endpoint", "error", "count"], errors)
                if errors else "none", ""]

    def csv_row(self, r):
        a, o, t, reads = self.demo.args, r.outcome, r.outcome.of(), r.outcome.of("users/")
        return [r.config.name, *(r.settings.get(k, "") for k in SHOWN), a.users, a.seconds,
                t.requests, t.failures, f"{self.failure_pct(t):.2f}", f"{t.rps:.2f}",
                ms(t.p50), ms(t.p95), ms(t.p99), "" if o.users_in_db is None else o.users_in_db,
                o.answers_2xx, o.problem, reads.requests, reads.failures,
                "" if reads.p50 is None else ms(reads.p50),
                "" if reads.p99 is None else ms(reads.p99)]

    MATRIX_CSV_HEADER = ["configuration", "endpoint", "users", "duration_s", "requests",
                         "failures", "req_per_s", "p50_ms", "p99_ms", "max_ms", "rows",
                         "writes_acknowledged", "errors", "problem"]

    def matrix_csv_rows(self, r):
        a, o = self.demo.args, r.mix
        return [[r.config.name, p or "all", a.users, a.seconds, t.requests, t.failures,
                 f"{t.rps:.2f}", ms(t.p50), ms(t.p99), ms(t.max),
                 "" if p or o.users_in_db is None else o.users_in_db,
                 "" if p else matrix.acknowledged(o),
                 "; ".join(f"{e} x{n}" for e, n in t.errors), "" if p else o.problem]
                for p in ("",) + matrix.ENDPOINTS for t in [o.of(p)]]

    def chart(self):
        """results.png: req/s and failure % per configuration (and the
        matrix mix's failure %); an error or ""."""
        a, ts = self.demo.args, [r.outcome.of() for r in self.rows]
        panels = []
        if CREATE_USER in a.workloads:
            panels += [
                # Fast failures can outnumber answers a hundredfold: a log
                # scale keeps both readable.
                Panel("requests/s, log scale (all answers, and the 2xx among them)", [
                    ("all requests/s", [t.rps for t in ts], "#8fb3d9"),
                    ("2xx (users created)/s",
                     [t.rps * (t.requests - t.failures) / t.requests if t.requests else 0.0
                      for t in ts], "#2f6fb0")], log=True, ymin=0.5, labels=True),
                Panel("failures, % of requests (lower is better)", [
                    ("failures", [self.failure_pct(t) for t in ts], "#c0392b")],
                    ymax=105, labels=True)]
        if MATRIX in a.workloads:
            panels.append(Panel("matrix mix: failures, % of requests", [
                ("failures", [self.failure_pct(r.mix.of("")) if r.mix else None
                              for r in self.rows], "#8e44ad")], ymax=105, labels=True))
        return bar_chart(
            self.out / "results.png",
            f"sqlite-fcgi: {a.users} locust users, {a.seconds} s per configuration and workload",
            [r.config.name for r in self.rows], panels, xtics="rotate by -25 scale 0")

    def write(self):
        paths = [publish(self.out, self.text())]
        if CREATE_USER in self.demo.args.workloads:
            paths += [write_csv(self.out / "results.csv", self.CSV_HEADER,
                                [self.csv_row(r) for r in self.rows]),
                      write_csv(self.out / "errors.csv", ["configuration", "error", "count"],
                                [[r.config.name, e, n] for r in self.rows
                                 for e, n in r.outcome.of().errors])]
        if MATRIX in self.demo.args.workloads:
            paths.append(write_csv(self.out / "matrix.csv", self.MATRIX_CSV_HEADER,
                                   [row for r in self.rows if r.mix
                                    for row in self.matrix_csv_rows(r)]))
        ok = not self.demo.args.chart or add_chart(paths, self.chart, self.out / "results.png")
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
    p.add_argument("--workloads", type=names("workloads", WORKLOADS), default=WORKLOADS,
                   help="comma-separated, from: create_user (the seed's request), matrix "
                   "(upstream's endpoint mix); default both")
    add_postgres_url(p, "the postgresql row")
    return p.parse_args(argv)


def main(argv):
    return run_tool("demo", BINARY, Demo, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
