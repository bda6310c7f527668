#!/usr/bin/python3
"""Upstream's endpoint matrix on upstream's Django app and on sqlite-fcgi,
under upstream's locust mix, in one run (make compare-matrix).

    /usr/bin/python3 bench/compare_matrix.py [--users 100] [--duration 20s]
        [--stacks NAME,...] [--wrk auto|always|never] [--postgres-url URL]
        [--out var/compare-matrix] [--no-chart]

First the load generator's ceiling: one locust process with the mix
(bench/load/matrix_locustfile.py) against an nginx that only answers "OK".
Then each stack of STACKS, on a fresh database and freshly started on a free
127.0.0.1 port under OUT/<stack>/, under the same locust run:

  django-default       upstream's app (bench/django/matrixapp) under gunicorn
                       (bench/django/gunicorn_matrix.conf.py), Django's SQLite
                       settings
  django-workaround    the same with upstream's workaround: WAL,
                       synchronous=NORMAL, BEGIN EXCLUSIVE for
                       transaction.atomic
  fcgi-django-default  sqlite-fcgi, SQLITE_PROFILE=django-default
  fcgi-tuned           sqlite-fcgi as it ships (the tuned profile)
  fcgi-tuned-postgresql  the same on PostgreSQL: on a server this tool starts
                       (harness/postgres.py), or on the fresh database
                       --postgres-url names

sqlite-fcgi's settings are what `sqlite-fcgi config` prints in each stack's
environment (OUT/<stack>/config.txt). Then, when tuned's rate under locust
came within WRK_NEAR of the ceiling (--wrk auto; always, never), tuned again
under wrk with the same mix (bench/load/matrix.lua), as many connections as
locust has users, for as long: the service's rate with a faster client.

Per stack: per endpoint requests, failures (and their kinds; for Django, the
exceptions its error log names), req/s, p50/p99/p99.9/max; the rows in
basic_model_row (from the SQLite file or the PostgreSQL server) against the
writes acknowledged (answered 200 "OK" to the load) and against the 2xx
writes in the server's access log; the peak of the summed RSS of the
server's processes (gunicorn's master and workers; nginx, multiwatch and the
workers, and the PostgreSQL server when it is this tool's own), sampled
twice a second, and their CPU time. Writes OUT/results.md, results.csv
(one row per stack and endpoint) and results.png (gnuplot). Exit status: 0
when every run finished, 1 when one did not (the table says which and why),
2 on bad arguments, 130 on Ctrl-C (which stops the load and the stack that
were running).
"""

import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import interrupts, matrix, wrk
from harness.cli import add_postgres_url, load_parser, names, run_tool
from harness.django_app import DjangoApp, installed_version
from harness.ok_nginx import OkNginx
from harness.paths import BINARY, ROOT
from harness.plot import Panel, bar_chart
from harness.postgres import OnDemand
from harness.report import (add_chart, markdown_table, machine, ms, publish, say, short_kind,
                            write_csv, written)
from harness.session import Outcome, Session
from harness.settings import parse_config
from harness.stack import Stack

# name -> (side, settings, what it is)
STACKS = {
    "django-default": ("django", {"sqlite": "default"},
                       "upstream's app, Django's SQLite settings (rollback journal, deferred "
                       "BEGIN, upstream's 30 s timeout)"),
    "django-workaround": ("django", {"sqlite": "workaround"},
                          "upstream's app with its workaround: WAL, synchronous=NORMAL, "
                          "BEGIN EXCLUSIVE for transaction.atomic (30 s timeout)"),
    "fcgi-django-default": ("fcgi", {"SQLITE_PROFILE": "django-default"},
                            "sqlite-fcgi, SQLITE_PROFILE=django-default"),
    "fcgi-tuned": ("fcgi", {}, "sqlite-fcgi as it ships (the tuned profile, nothing changed)"),
    "fcgi-tuned-postgresql": ("fcgi", {}, "sqlite-fcgi as it ships, on PostgreSQL"),
}
TUNED = "fcgi-tuned"
WORKAROUND = "django-workaround"
# wrk drives tuned too when its locust rate reaches this share of locust's ceiling:
# half, since locust shares the CPUs with the server it drives (on 2 cores,
# with nothing kept for it), so beside a server it never reaches the rate it
# reaches against an nginx that does nothing.
WRK_NEAR = 0.5
# What the settings line of each sqlite-fcgi stack shows, from `sqlite-fcgi config`.
SHOWN = ("SQLITE_PROFILE", "SQLITE_JOURNAL_MODE", "SQLITE_SYNCHRONOUS", "SQLITE_BUSY_TIMEOUT_MS",
         "SQLITE_TXN", "WRITE_LOCK_WAIT", "WORKERS", "WORKER_THREADS", "DATABASE_URL")


@dataclass
class Run:
    name: str        # a stack, "ceiling", or "fcgi-tuned (wrk)"
    tool: str
    outcome: Outcome = field(default_factory=Outcome)
    settings: dict = field(default_factory=dict)  # sqlite-fcgi config's
    causes: dict = field(default_factory=dict)    # Django's: (path, exception) -> n
    sent: dict = field(default_factory=dict)      # wrk's requests sent, by path


class WithDatabase:
    """A server whose database server's processes count as its own too."""

    def __init__(self, server, db_pids):
        self.server, self.db_pids = server, db_pids

    def __getattr__(self, name):
        return getattr(self.server, name)

    def root_pids(self):
        return self.server.root_pids() + self.db_pids()


class CompareMatrix:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.session = Session(self.out)
        self.pg = OnDemand(self.session, args.postgres_url)
        self.runs = []

    def steps(self):
        return 1 + len(self.args.stacks) + (self.args.wrk != "never" and TUNED in self.args.stacks)

    def label(self, name):
        return f"[{len(self.runs) + 1}/{self.steps()}] {name}"

    def ceiling(self):
        label, run_dir = self.label("locust's ceiling"), self.out / "ceiling"
        server = OkNginx(run_dir)
        self.session.fresh_dir(run_dir, server)
        say(f"{label}: one locust process against an nginx that only answers \"OK\"")
        run = Run("ceiling", "locust")
        run.outcome = self.session.run_one(label, run_dir, server,
                                           matrix.locust_load(self.args.users, self.args.seconds),
                                           count_users=lambda: None)
        self.runs.append(run)

    def server_for(self, name, run_dir):
        """(server, row counter, sqlite-fcgi settings) of the stack name."""
        side, settings, _ = STACKS[name]
        if side == "django":
            app = DjangoApp(run_dir, app="matrix", **settings)
            return app, matrix.sqlite_rows(app.db_path), {}
        settings = dict(settings)
        if name.endswith("-postgresql"):
            settings["DATABASE_URL"] = self.pg.fresh_url(matrix.TABLE)
        stack = Stack(run_dir, **settings)
        config = stack.config()
        if config.returncode != 0:
            raise RuntimeError(f"settings refused: {config.stderr.strip()}")
        if "DATABASE_URL" in settings:
            return (WithDatabase(stack, self.pg.pids),
                    matrix.postgres_rows(settings["DATABASE_URL"]), parse_config(config.stdout))
        return stack, matrix.sqlite_rows(stack.db_path), parse_config(config.stdout)

    def run_stack(self, name, tool="locust"):
        title = name if tool == "locust" else f"{name} ({tool})"
        label, run = self.label(title), Run(title, tool)
        self.runs.append(run)
        run_dir = self.out / (name if tool == "locust" else f"{name}-{tool}")
        try:
            server, rows, run.settings = self.server_for(name, run_dir)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            run.outcome.problem = str(e).strip().splitlines()[0]
            say(f"{label}: {run.outcome.problem}")
            return
        self.session.fresh_dir(run_dir, server)
        if run.settings:
            (run_dir / "config.txt").write_text(server.config().stdout)
        say(f"{label}: starting ({STACKS[name][2]}"
            + "".join(f" {k}={run.settings[k]}" for k in SHOWN if run.settings.get(k)) + ")")
        load = (matrix.locust_load if tool == "locust" else matrix.wrk_load)(
            self.args.users, self.args.seconds)
        run.outcome = self.session.run_one(label, run_dir, server, load, count_users=rows)
        if STACKS[name][0] == "django":
            run.causes = server.exceptions_by_path()
        if tool == "wrk":
            out = run_dir / "wrk.out"
            run.sent = wrk.sent(out.read_text()) if out.exists() else {}

    def wants_wrk(self):
        if self.args.wrk == "never" or TUNED not in self.args.stacks:
            return False
        if self.args.wrk == "always":
            return True
        ceiling, tuned = self.find("ceiling"), self.find(TUNED)
        near = (ceiling and tuned and ceiling.outcome.of("").rps
                and tuned.outcome.of("").rps >= WRK_NEAR * ceiling.outcome.of("").rps)
        say(f"compare-matrix: tuned under locust is {'' if near else 'not '}within "
            f"{WRK_NEAR:.0%} of locust's ceiling" + ("; now under wrk" if near else ""))
        return bool(near)

    def find(self, name):
        return next((r for r in self.runs if r.name == name), None)

    def run_all(self):
        self.ceiling()
        for name in self.args.stacks:
            self.run_stack(name)
        if self.wants_wrk():
            self.run_stack(TUNED, "wrk")

    def run(self):
        self.out.mkdir(parents=True, exist_ok=True)
        say(f"compare-matrix: {self.steps()} runs at most, locust -u {self.args.users} "
            f"-t {self.args.seconds}s each (about {self.steps() * (self.args.seconds + 15)} s); "
            f"output in {self.out}")
        if not self.session.run(self.run_all):
            return interrupts.EXIT_STATUS
        Report(self).write()
        return 0 if not any(r.outcome.problem for r in self.runs) else 1


def pct(part, whole):
    return 100.0 * part / whole if whole else 0.0


class Report:
    HEADER = ["stack", "requests", "failures (%)", "req/s", "p50 ms", "p99 ms", "p99.9 ms",
              "max ms", "worst write ms", "rows", "writes acknowledged", "2xx writes logged",
              "peak RSS MiB", "CPU s"]
    ENDPOINT_HEADER = ["stack", "endpoint", "requests", "failures", "failure kinds", "req/s",
                       "p50 ms", "p99 ms", "p99.9 ms", "max ms"]
    CSV_HEADER = ["stack", "tool", "endpoint", "users", "duration_s", "requests", "failures",
                  "req_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms", "rows",
                  "writes_acknowledged", "writes_logged_2xx", "peak_rss_kb", "cpu_s",
                  "failure_kinds", "logged_exceptions", "problem"]

    def __init__(self, compare):
        self.compare, self.args, self.runs = compare, compare.args, compare.runs

    @staticmethod
    def acknowledged(r):
        """Writes acknowledged: locust's 200 "OK"s; wrk reads no body, and
        drops its requests in flight at its deadline: nginx's 2xx then."""
        return matrix.logged_writes(r.outcome) if r.tool == "wrk" else matrix.acknowledged(r.outcome)

    def rows_cell(self, r):
        o = r.outcome
        if o.users_in_db is None:
            return "-"
        return str(o.users_in_db) + ("" if o.users_in_db == self.acknowledged(r) else " (MISMATCH)")

    def row(self, r):
        o, t = r.outcome, r.outcome.of("")
        if o.problem and not t.requests:
            return [r.name] + ["-"] * (len(self.HEADER) - 2) + [f"FAILED: {o.problem}"]
        storing = r.name != "ceiling"
        return [r.name, str(t.requests), f"{t.failures} ({pct(t.failures, t.requests):.2f}%)",
                f"{t.rps:.1f}", ms(t.p50), ms(t.p99), ms(t.p999), ms(t.max),
                ms(matrix.worst_write_ms(o)) if storing else "-", self.rows_cell(r),
                str(self.acknowledged(r)) if storing else "-",
                str(matrix.logged_writes(o)) if storing else "-",
                f"{o.peak_rss_kb / 1024:.0f}", f"{o.cpu_s:.1f}"]

    def kinds(self, r, path):
        kinds = "; ".join(f"{short_kind(e)} x{n}" for e, n in r.outcome.of(path).errors)
        logged = [f"{c} x{n}" for (p, c), n in sorted(r.causes.items()) if p == path]
        if logged:
            kinds += " (Django logged: " + "; ".join(logged) + ")"
        return kinds or "-"

    def endpoint_rows(self, r):
        rows = []
        for path in matrix.ENDPOINTS:
            t = r.outcome.of(path)
            if t.requests:
                rows.append([r.name, path, str(t.requests), str(t.failures), self.kinds(r, path),
                             f"{t.rps:.1f}", ms(t.p50), ms(t.p99), ms(t.p999), ms(t.max)])
        return rows

    def machine(self):
        gunicorn, django = installed_version("gunicorn"), installed_version("django")
        workers, threads = DjangoApp.sizing("matrix")
        pg = [f"PostgreSQL {self.compare.pg.version}"] if self.compare.pg.version else []
        return machine(self.compare.session.load_before, f"Python {platform.python_version()}",
                       f"Django {django}", f"gunicorn {gunicorn} ({workers} workers x {threads} "
                       "threads)", *pg)

    def findings(self):
        """The ratios the comparison is about, as measured."""
        find = self.compare.find
        ceiling, tuned, workaround = find("ceiling"), find(TUNED), find(WORKAROUND)
        lines = []
        if ceiling and ceiling.outcome.of("").rps:
            c = ceiling.outcome.of("").rps
            lines.append(f"- locust's ceiling (one process, nginx answering \"OK\"): {c:.1f} req/s; "
                         + ", ".join(f"{r.name} {pct(r.outcome.of('').rps, c):.0f}% of it"
                                     for r in self.runs if r.tool == "locust" and r is not ceiling))
        if tuned and workaround and workaround.outcome.of("").rps:
            rate = tuned.outcome.of("").rps / workaround.outcome.of("").rps
            lines.append(f"- {TUNED} answered {rate:.2f} x the req/s of {WORKAROUND}")
            worst_t, worst_w = (matrix.worst_write_ms(r.outcome) for r in (tuned, workaround))
            if worst_t is not None and worst_w:
                lines.append(f"- {TUNED}'s slowest write took {worst_t:.0f} ms, "
                             f"{worst_t / worst_w:.2f} x {WORKAROUND}'s {worst_w:.0f} ms")
        for r in self.runs:
            failed = matrix.failed_endpoints(r.outcome)
            if failed and r.name != "ceiling":
                lines.append(f"- {r.name} failed on " + ", ".join(f"{p} ({n})"
                                                               for p, n in failed.items()))
        return lines

    def text(self):
        a = self.args
        lines = [f"USERS={a.users} DURATION={a.seconds}s; {self.machine()}", "",
                 f"Upstream's mix (bench/load/matrix_locustfile.py), locust -u {a.users} "
                 f"-r {a.users} -t {a.seconds}s; \"wrk\": bench/load/matrix.lua, wrk -c "
                 f"{a.users} -d {a.seconds}s (its failures: non-2xx answers, and no body read). "
                 "Latencies in ms; worst write: the largest max of the six writes; rows: "
                 "basic_model_row after the run; writes acknowledged: answered 200 \"OK\" to "
                 "locust (to wrk: the 2xx writes in nginx's log).", "",
                 markdown_table(self.HEADER, [self.row(r) for r in self.runs]), "",
                 "What it shows:", ""] + self.findings() + [
                 "", "Per endpoint:", "",
                 markdown_table(self.ENDPOINT_HEADER,
                                [row for r in self.runs if r.name != "ceiling"
                                 for row in self.endpoint_rows(r)])]
        sent = [r for r in self.runs if r.sent]
        for r in sent:
            lines += ["", f"{r.name}: requests sent, by path (wrk): "
                      + ", ".join(f"{p} {n}" for p, n in r.sent.items())]
        lines += ["", "Stacks:", ""] + [
            f"- {n}: {STACKS[n][2]}" + (" (`sqlite-fcgi config`: " + " ".join(
                f"{k}={r.settings[k]}" for k in SHOWN if r.settings.get(k)) + ")"
                if (r := self.compare.find(n)) and r.settings else "")
            for n in a.stacks]
        problems = [f"- {r.name}: {r.outcome.problem}" for r in self.runs if r.outcome.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def csv_rows(self, r):
        a, o = self.args, r.outcome
        rows = []
        for path in ("",) + matrix.ENDPOINTS:
            t = o.of(path)
            if path and not t.requests:
                continue
            whole = path == ""
            rows.append([r.name, r.tool, path or "all", a.users, a.seconds, t.requests,
                         t.failures, f"{t.rps:.2f}", ms(t.p50), ms(t.p99), ms(t.p999), ms(t.max),
                         "" if o.users_in_db is None or not whole else o.users_in_db,
                         self.acknowledged(r) if whole else "",
                         matrix.logged_writes(o) if whole else "",
                         o.peak_rss_kb if whole else "", f"{o.cpu_s:.2f}" if whole else "",
                         "; ".join(f"{e} x{n}" for e, n in t.errors),
                         "; ".join(f"{c} x{n}" for (p, c), n in r.causes.items()
                                   if whole or p == path), o.problem if whole else ""])
        return rows

    def chart(self):
        runs = [r for r in self.runs if r.outcome.of("").requests]
        ts = [r.outcome.of("") for r in runs]
        return bar_chart(
            self.compare.out / "results.png",
            # (gnuplot's title is quoted with ', so none in it.)
            f"The upstream matrix mix: {self.args.users} users (wrk: connections), "
            f"{self.args.seconds} s per run",
            [r.name for r in runs], [
                Panel("requests/s (higher is better)",
                      [("req/s", [t.rps for t in ts], "#2f6fb0")], labels=True),
                Panel("writes: p99 and slowest, ms, log scale (lower is better)", [
                    ("p99 of all requests", [t.p99 for t in ts], "#8fb3d9"),
                    # wrk times no path apart: its slowest request of all.
                    ("slowest write (wrk: slowest request)",
                     [t.max if r.tool == "wrk" else matrix.worst_write_ms(r.outcome)
                      for r, t in zip(runs, ts)], "#2f6fb0")], log=True, ymin=0.5),
                Panel("failures, % of requests (lower is better)", [
                    ("failures", [pct(t.failures, t.requests) for t in ts], "#c0392b")],
                    labels=True)],
            xtics="rotate by -25 scale 0")

    def write(self):
        out = self.compare.out
        paths = [publish(out, self.text()),
                 write_csv(out / "results.csv", self.CSV_HEADER,
                           [row for r in self.runs for row in self.csv_rows(r)])]
        if self.args.chart:
            add_chart(paths, self.chart, out / "results.png")
        written(paths)


def parse_args(argv):
    p = load_parser(__doc__, ROOT / "var" / "compare-matrix", "run")
    p.set_defaults(users=100, seconds=20)
    p.add_argument("--stacks", type=names("stacks", list(STACKS)), default=list(STACKS))
    p.add_argument("--wrk", choices=("auto", "always", "never"), default="auto",
                   help=f"tuned under wrk too: auto (when locust reached {WRK_NEAR:.0%} of "
                   "its ceiling), always, never")
    add_postgres_url(p, "fcgi-tuned-postgresql")
    return p.parse_args(argv)


def main(argv):
    return run_tool("compare-matrix", BINARY, CompareMatrix, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
