#!/usr/bin/python3
"""The original Django app and sqlite-fcgi under the same load (make compare).

    /usr/bin/python3 bench/compare.py [--users 10] [--duration 10s]
        [--hashes default,cheap] [--tools locust,wrk] [--stacks NAME,...]
        [--out var/compare] [--hash-seconds 1] [--no-chart]

Four stacks, each on a fresh database and freshly started on a free
127.0.0.1 port under OUT/<hash>/<tool>/<stack>/:

  django-default      the seed's view (bench/django) under gunicorn, sized as
                      the seed sized it (bench/django/gunicorn.conf.py),
                      Django's SQLite settings
  django-fixed        the same with the fix as a Django user applies it: WAL,
                      busy timeout 5 s, BEGIN IMMEDIATE (a backend override)
  fcgi-django-default sqlite-fcgi, SQLITE_PROFILE=django-default
  fcgi-tuned          sqlite-fcgi as it ships (no setting changed)

each under the locust run of make demo (bench/load/locustfile.py), then,
on another fresh database and stack, under wrk with as many connections as
locust has users, for as long; at the default hashes (Django: PBKDF2 at its
iteration count; sqlite-fcgi: yescrypt) and at cheap ones (Django: PBKDF2 at
1000 iterations; sqlite-fcgi: sha512crypt, 1000 rounds). The cost of one hash
on each side is measured first, so that the rates can be read against each
side's hash ceiling (CPUs x 1000 / ms a hash).

Per stack and load: requests, failures (and their kinds; for Django, the
exceptions its error log names), req/s, p50/p99/p99.9; the users in the
database against the 2xx answers in the server's access log; the peak of
the summed RSS of the server's processes (gunicorn's master and workers;
nginx, multiwatch and the sqlite-fcgi workers), sampled twice a second; and
their CPU time (user + system, from /proc) per 1000 users created. Writes
OUT/results.md, OUT/results.csv and OUT/results.png (gnuplot). Exit status: 0
when every run finished, 1 when one did not (the table says which and why), 2
on bad arguments, 130 on Ctrl-C (which stops the load and the stack that were
running).
"""

import os
import platform
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import interrupts
from harness.cli import load_parser, names
from harness.django_app import APP_DIR, DjangoApp, installed_version
from harness.load import Locust, Wrk
from harness.paths import BINARY, PYTHON, ROOT
from harness.plot import Panel, bar_chart
from harness.report import (add_chart, markdown_table, machine, ms, publish, say, short_kind,
                            write_csv, written)
from harness.session import Outcome, Session
from harness.settings import effective
from harness.stack import Stack

CPUS = os.cpu_count() or 1
CEILINGS = ROOT / "build" / "ceilings"

# name -> (side, settings, what it is)
STACKS = {
    "django-default": ("django", {"sqlite": "default"},
                       "Django's SQLite settings (rollback journal, 5 s timeout, deferred BEGIN)"),
    "django-fixed": ("django", {"sqlite": "fixed"},
                     "WAL + synchronous=NORMAL + 5 s timeout + BEGIN IMMEDIATE (backend override)"),
    "fcgi-django-default": ("fcgi", {"SQLITE_PROFILE": "django-default"},
                            "sqlite-fcgi, SQLITE_PROFILE=django-default"),
    "fcgi-tuned": ("fcgi", {}, "sqlite-fcgi as it ships (the tuned profile, nothing changed)"),
}
# hash run -> (Django's settings, sqlite-fcgi's settings, how to say them)
HASHES = {
    "default": ({"hash": "default"}, {},
                ("Django: PBKDF2-SHA256, Django's iterations", "sqlite-fcgi: yescrypt, libxcrypt's cost")),
    "cheap": ({"hash": "cheap"}, {"HASH_METHOD": "sha512crypt", "HASH_COST": "1000"},
              ("Django: PBKDF2-SHA256, 1000 iterations", "sqlite-fcgi: sha512crypt, 1000 rounds")),
}
# load -> (the load, how the table says it)
LOADS = {
    "locust": (Locust, "locust -u {users} -t {seconds}s (make demo's run; failures as locust "
               "named them)"),
    "wrk": (Wrk, "wrk -c {users} -d {seconds}s (failures: the non-2xx statuses in the server's "
            "access log; \"+N cut off\": users created by requests wrk dropped at its deadline, "
            "which gunicorn does not log)"),
}


@dataclass
class Run:
    hash: str
    tool: str
    name: str
    outcome: Outcome
    causes: Counter = field(default_factory=Counter)  # Django's logged exceptions

    @property
    def side(self):
        return STACKS[self.name][0]


def server_for(name, hash_name, run_dir):
    side, settings, _ = STACKS[name]
    django_hash, fcgi_hash, _ = HASHES[hash_name]
    if side == "django":
        return DjangoApp(run_dir, **settings, **django_hash)
    return Stack(run_dir, **settings, **fcgi_hash)


def hash_costs(hash_name, seconds):
    """{"django": (ms, hashes/s ceiling), "fcgi": (ms, ceiling)}, and Django's version."""
    django_hash, fcgi_hash, _ = HASHES[hash_name]
    env = {k: v for k, v in os.environ.items() if k not in ("HASH_METHOD", "HASH_COST")}
    out = subprocess.run([PYTHON, str(APP_DIR / "hash_cost.py"), str(seconds)],
                         env=dict(env, COMPARE_DB_PATH=os.devnull, PYTHONPATH=str(APP_DIR),
                                  COMPARE_DJANGO_HASH=django_hash["hash"]),
                         cwd=APP_DIR, capture_output=True, text=True, timeout=120, check=True)
    d = dict(line.split("=", 1) for line in out.stdout.split())
    out = subprocess.run([str(CEILINGS)], env=dict(env, BENCH_SECONDS=str(seconds), **fcgi_hash),
                         capture_output=True, text=True, timeout=120, check=True)
    fcgi_ms = float(dict(line.split("=") for line in out.stdout.split())["hash_ms"])
    django_ms = float(d["hash_ms"])
    # One rule on both sides: one hashing process per CPU, each at the cost
    # of one call measured alone. (yescrypt is memory-hard, so its real
    # ceiling is somewhat lower; make bench measures that one.)
    return ({"django": (django_ms, CPUS * 1000 / django_ms),
             "fcgi": (fcgi_ms, CPUS * 1000 / fcgi_ms)}, d["django"])


class Compare:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).resolve()
        self.session = Session(self.out)
        self.runs = []
        self.costs = {}
        self.django_version = "?"
        self.plan = [(h, t, n) for h in args.hashes for t in args.tools for n in args.stacks]

    def run_one(self, index, hash_name, tool, name):
        label = f"[{index}/{len(self.plan)}] {hash_name} hash, {tool}, {name}"
        run_dir = self.out / hash_name / tool / name
        server = server_for(name, hash_name, run_dir)
        self.session.fresh_dir(run_dir, server)
        say(f"{label}: starting ({STACKS[name][2]})")
        outcome = self.session.run_one(label, run_dir, server,
                                       LOADS[tool][0](self.args.users, self.args.seconds))
        run = Run(hash_name, tool, name, outcome)
        if tool == "wrk":  # its failures by the status the server logged
            outcome.of().errors = [(str(s), n) for s, n in outcome.statuses.most_common()
                                   if s >= 300]
        if run.side == "django":
            run.causes = server.exceptions()
        self.runs.append(run)

    def run_all(self):
        for h in self.args.hashes:
            say(f"compare: the cost of one hash ({h}) on each side ...")
            self.costs[h], self.django_version = hash_costs(h, self.args.hash_seconds)
            for side, (cost_ms, ceiling) in self.costs[h].items():
                say(f"compare:   {side}: {cost_ms:.3f} ms a hash, {ceiling:.1f} hashes/s "
                    f"on {CPUS} CPUs")
        for i, (h, t, n) in enumerate(self.plan, 1):
            self.run_one(i, h, t, n)

    def run(self):
        self.out.mkdir(parents=True, exist_ok=True)
        say(f"compare: {len(self.plan)} runs ({', '.join(self.args.tools)}) of "
            f"{self.args.users} users for {self.args.seconds} s each; output in {self.out}")
        try:
            if not self.session.run(self.run_all):
                return interrupts.EXIT_STATUS
        except subprocess.SubprocessError as e:
            say(f"compare: {e}")
            return 1
        Report(self).write()
        return 0 if not any(r.outcome.problem for r in self.runs) else 1


class Report:
    HEADER = ["stack", "requests", "failures (%)", "failure kinds", "req/s", "p50 ms",
              "p99 ms", "p99.9 ms", "users in DB", "2xx answers", "users/s (% of hash ceiling)",
              "peak RSS MiB", "CPU s / 1000 users"]
    CSV_HEADER = ["hash", "tool", "stack", "users", "duration_s", "requests", "failures",
                  "req_per_s", "p50_ms", "p99_ms", "p999_ms", "users_in_db", "answers_2xx",
                  "hash_ms", "hash_ceiling_per_s", "peak_rss_kb", "cpu_s", "failure_kinds",
                  "logged_exceptions", "problem"]

    def __init__(self, compare):
        self.compare = compare
        self.args = compare.args
        self.runs = compare.runs
        self.out = compare.out

    def users_per_s(self, r):
        """Users created per second of the run (locust's req/s is over the whole
        run, the drain included: the same span)."""
        t = r.outcome.of()
        return (r.outcome.users_in_db or 0) * t.rps / t.requests if t.requests else 0.0

    def row(self, r):
        o, t = r.outcome, r.outcome.of()
        if o.problem and not t.requests:
            return [r.name] + ["-"] * (len(self.HEADER) - 2) + [f"FAILED: {o.problem}"]
        kinds = "; ".join(f"{short_kind(e)} x{n}" for e, n in t.errors) or "-"
        if r.causes:
            kinds += " (logged: " + "; ".join(f"{c} x{n}" for c, n in r.causes.most_common()) + ")"
        ceiling = self.compare.costs[r.hash][r.side][1]
        created, users_s = o.users_in_db or 0, self.users_per_s(r)
        pct = 100.0 * t.failures / t.requests if t.requests else 0.0
        cells = [r.name, str(t.requests), f"{t.failures} ({pct:.1f}%)",
                 kinds, f"{t.rps:.1f}", ms(t.p50), ms(t.p99), ms(t.p999),
                 "-" if o.users_in_db is None else str(o.users_in_db), str(o.answers_2xx),
                 f"{users_s:.1f} ({100 * users_s / ceiling:.0f}%)", f"{o.peak_rss_kb / 1024:.0f}",
                 f"{1000 * o.cpu_s / created:.1f}" if created else "-"]
        gap = None if o.users_in_db is None else o.users_in_db - o.answers_2xx
        if gap and r.tool == "wrk" and 0 < gap <= self.args.users:
            # wrk drops its connections at its deadline: gunicorn logs no
            # line for an answer it could not send (nginx logs what the
            # worker answered). At most one such request per connection.
            cells[9] += f" (+{gap} cut off)"
        elif gap:
            cells[9] += " (MISMATCH)"
        return cells

    def machine(self):
        gunicorn = installed_version("gunicorn")
        workers, threads = DjangoApp.sizing()
        fcgi_workers = effective({}, BINARY)["WORKERS"]
        return machine(self.compare.session.load_before, f"Python {platform.python_version()}",
                       f"Django {self.compare.django_version}",
                       f"gunicorn {gunicorn} ({workers} workers x {threads} threads)",
                       f"sqlite-fcgi {fcgi_workers} workers behind nginx")

    def text(self):
        a = self.args
        lines = [f"USERS={a.users} DURATION={a.seconds}s; {self.machine()}", ""]
        for h in (h for h in a.hashes if h in self.compare.costs):
            (dj_ms, dj_ceil), (fc_ms, fc_ceil) = (self.compare.costs[h][s] for s in ("django", "fcgi"))
            dj_what, fc_what = HASHES[h][2]
            lines += [f"{h} hashes: {dj_what}, {dj_ms:.2f} ms a hash, ceiling {dj_ceil:.1f}/s; "
                      f"{fc_what}, {fc_ms:.2f} ms a hash, ceiling {fc_ceil:.1f}/s", ""]
            for t in a.tools:
                rows = [self.row(r) for r in self.runs if r.hash == h and r.tool == t]
                if rows:
                    lines += [LOADS[t][1].format(users=a.users, seconds=a.seconds) + ":", "",
                              markdown_table(self.HEADER, rows), ""]
        lines += ["Stacks:", ""] + [f"- {n}: {STACKS[n][2]}" for n in a.stacks]
        problems = [f"- {r.hash} hash, {r.tool}, {r.name}: {r.outcome.problem}"
                    for r in self.runs if r.outcome.problem]
        if problems:
            lines += ["", "Problems:", ""] + problems
        return "\n".join(lines) + "\n"

    def csv_row(self, r):
        o, t = r.outcome, r.outcome.of()
        cost_ms, ceiling = self.compare.costs[r.hash][r.side]
        return [r.hash, r.tool, r.name, self.args.users, self.args.seconds, t.requests,
                t.failures, f"{t.rps:.2f}", ms(t.p50), ms(t.p99), ms(t.p999),
                "" if o.users_in_db is None else o.users_in_db, o.answers_2xx,
                f"{cost_ms:.3f}", f"{ceiling:.1f}", o.peak_rss_kb, f"{o.cpu_s:.2f}",
                "; ".join(f"{e} x{n}" for e, n in t.errors),
                "; ".join(f"{c} x{n}" for c, n in r.causes.most_common()), o.problem]

    def chart(self):
        """results.png: users created/s and failure % per stack, one bar per
        hash and load; an error or ""."""
        series = [(h, t) for h in self.args.hashes for t in self.args.tools
                  if any(r.hash == h and r.tool == t for r in self.runs)]
        by_key = {(r.hash, r.tool, r.name): r for r in self.runs}

        def values(h, t, figure):
            rs = [by_key.get((h, t, n)) for n in self.args.stacks]
            return [figure(r) if r and r.outcome.of().requests and r.outcome.users_in_db
                    is not None else None for r in rs]

        def failure_pct(r):
            return 100.0 * r.outcome.of().failures / r.outcome.of().requests

        a = self.args
        return bar_chart(
            self.out / "results.png",
            f"Django + gunicorn and sqlite-fcgi: {a.users} users, {a.seconds} s per run",
            self.args.stacks, [
                # The rates span three orders of magnitude: a log scale keeps all readable.
                Panel("users created/s, log scale (higher is better)",
                      [(f"{h} hash, {t}", values(h, t, self.users_per_s), None) for h, t in series],
                      log=True, ymin=0.1),
                Panel("failures, % of requests (lower is better)",
                      [(f"{h} hash, {t}", values(h, t, failure_pct), None) for h, t in series],
                      ymax=105)])

    def write(self):
        paths = [publish(self.out, self.text()),
                 write_csv(self.out / "results.csv", self.CSV_HEADER,
                           [self.csv_row(r) for r in self.runs])]
        if self.args.chart:
            add_chart(paths, self.chart, self.out / "results.png")
        written(paths)


def parse_args(argv):
    p = load_parser(__doc__, ROOT / "var" / "compare", "run")
    p.add_argument("--hashes", type=names("hashes", list(HASHES)), default=list(HASHES))
    p.add_argument("--stacks", type=names("stacks", list(STACKS)), default=list(STACKS))
    p.add_argument("--tools", type=names("tools", list(LOADS)), default=list(LOADS),
                   help="the loads, from: locust, wrk (default both)")
    p.add_argument("--hash-seconds", type=float, default=1.0,
                   help="how long each hash cost is measured (default 1)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    for path, what in ((BINARY, "make all"), (CEILINGS, "make bench-build")):
        if not os.access(path, os.X_OK):
            say(f"compare: {path} is missing ({what} builds it)")
            return 1
    interrupts.catch()
    return Compare(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
