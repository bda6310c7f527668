"""make bench: the ceilings of this machine and /create_user/ measured in one run.

Ceilings: the cost of one password hash, the commit rate of one SQLite writer
(WAL + NORMAL and WAL + FULL), and a trivial FastCGI "hello" worker behind the
same nginx, spawn-fcgi and multiwatch.  Then the service under wrk at 10 and
100 connections, at the default hash and at a cheap one, and the ratios; and
the same service on PostgreSQL (a local server the run starts, as the tests
do: bench/harness/postgres.py) beside SQLite tuned, same load, same hashes.
Then the write routes at FULL and NORMAL, with and without group commit, on
this disk and on a simulated slow one (writes.py), and creations and reads
on a table of a million users against a new one (big_table.py).
Writes var/bench/results.md and var/bench/results.csv.

Environment: BENCH_QUICK=1 (short runs, two stacks loaded at a time, and a
small "big" table, for make test: its figures are not comparable with a
full run's), BENCH_DURATION (seconds per wrk run), BENCH_USERS (the big table's
users, 1000000), WORKERS (default: the service's, CPUs + 1), BENCH_OUT
(var/bench).
"""

import csv
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import big_table
import writes
from harness import slow_disk
from harness.in_order import run_in_order
from harness.measure import (SAMPLE_S, wait_idle, worker_time_shares, workers_memory_kb,
                             workers_private_kb)
from harness.postgres import PostgresServer
from harness.report import say
from harness.settings import effective, setting_names
from harness.stack import ROOT, Stack
from harness.wrk import cells, wrk

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DURATION = int(os.environ.get("BENCH_DURATION", "2" if QUICK else "10"))
CPUS = os.cpu_count() or 1
# WORKERS from the environment, else the service's own default (CPUs + 1).
WORKERS = int(effective({"WORKERS": os.environ.get("WORKERS", "")})["WORKERS"])
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "var" / "bench"))
BIG_USERS = int(os.environ.get("BENCH_USERS", "2000" if QUICK else "1000000"))
BUILD = ROOT / "build"
# How long the workers must use no CPU after a load before they count as
# idle (their memory is read then): shorter in a quick run, whose figures
# only show that the pipeline works.
IDLE_S = 0.2 if QUICK else SAMPLE_S
# Runs loaded at a time: two in a quick run, whose figures only show that
# the pipeline works (on 2 CPUs, each of its wrk runs still lasts DURATION);
# one in make bench, whose figures are each run alone on the machine.
JOBS = 2 if QUICK else 1
CHEAP = {"HASH_METHOD": "sha512crypt", "HASH_COST": "1000"}
# The cost of one hash in each stored format (docs/passwords.md): Django's
# pbkdf2_sha256 at the default (Django 3.2's iterations) and at Django 5.2's,
# Django's bcrypt at its default 12 rounds.
HASH_FORMATS = [
    ("yescrypt, libxcrypt's cost (the default)", {}),
    ("pbkdf2_sha256, 260000 iterations (HASH_COST=0, Django 3.2)",
     {"HASH_METHOD": "pbkdf2_sha256"}),
    ("pbkdf2_sha256, 1000000 iterations (Django 5.2)",
     {"HASH_METHOD": "pbkdf2_sha256", "HASH_COST": "1000000"}),
    ("django-bcrypt, cost 12 (Django's BCryptPasswordHasher)",
     {"HASH_METHOD": "django-bcrypt", "HASH_COST": "12"}),
    ("sha512crypt, 1000 rounds (the cheap hash of these runs)", CHEAP),
]


def ceilings(env_extra):
    env = dict(os.environ, BENCH_SECONDS="0.2" if QUICK else "2", **env_extra)
    out = subprocess.run([str(BUILD / "ceilings")], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return {k: float(v) for k, v in (line.split("=") for line in out.split())}


# Reads have users to read: a page of GET /users/ is 10 of them.
SEED_USERS = 20
# The saturating write load beside the "under writes" read rows.
WRITE_CONNECTIONS = 50


def load(stack, run):
    """wrk as the run says; with writes_beside, a second wrk creating users meanwhile."""
    main_load = lambda: wrk(stack.url(run["path"]), run["connections"], DURATION,
                            run.get("script"), run.get("args", ()))
    if not run.get("writes_beside"):
        return main_load()
    writes_meanwhile = {}
    t = threading.Thread(target=lambda: writes_meanwhile.update(
        wrk(stack.url("/create_user/"), WRITE_CONNECTIONS, DURATION)))
    t.start()
    result = main_load()
    t.join()
    result["writes_rps"] = writes_meanwhile.get("rps", 0)
    result["writes_failures"] = writes_meanwhile.get("failures")
    return result


def run_stack(tmp, name, run):
    """Starts a fresh stack as run says, loads it with wrk, and returns the figures."""
    # The previous run's last checkpoint leaves dirty pages for the kernel to
    # write back; flushed now, they do not slow this run (the big table's
    # reads, which follow its creations: docs/performance.md, "A million
    # users").
    os.sync()
    stack = Stack(Path(tmp) / name, WORKERS=WORKERS, **run["settings"])
    if run.get("slow"):
        stack.env.update(slow_disk.env(stack.db_path))
    stack.start()
    try:
        if run["path"].startswith("/users/"):
            for _ in range(SEED_USERS):
                stack.get("/create_user/")
        stack.get(run["path"])  # warm: the first request opens files and pages
        result = load(stack, run)
        wait_idle(stack.worker_pids, quiet=IDLE_S)
        result["rss_total_kb"], result["rss_max_kb"], result["peak_kb"] = workers_memory_kb(stack)
        result["private_max_kb"] = workers_private_kb(stack)
        result["hash_share"], result["lock_wait_share"] = worker_time_shares(stack)
        wal = Path(f"{stack.db_path}-wal")
        result["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
        if run.get("slow") and slow_disk.BANNER not in stack.app_log():
            raise RuntimeError(f"{run['label']}: the workers did not load {slow_disk.SHIM}")
    finally:
        stack.stop()
    return result


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    say(f"bench: {CPUS} CPUs, {WORKERS} workers, {DURATION} s per run"
        f"{' (quick)' if QUICK else ''}")
    say("bench: ceilings: hash cost and SQLite commit rate ...")
    ceil_default = ceilings({})
    ceil_cheap = ceilings(CHEAP)
    hash_ceiling = ceil_default["hashes_per_s"]
    hash_costs = [(label, ceilings(dict(settings, BENCH_HASH_ONLY="1"))["hash_ms"])
                  for label, settings in HASH_FORMATS]
    runs = []
    pg = PostgresServer.launch()
    try:
        with tempfile.TemporaryDirectory(prefix="sqlite-fcgi-bench-") as tmp:
            write_runs, unavailable = writes.plan(CHEAP, setting_names())
            plan = main_plan(pg) + write_runs + big_table.plan(
                CHEAP, Path(tmp) / "big" / "db.sqlite3", BIG_USERS)
            execute(tmp, plan, runs)
    finally:
        pg.shutdown()
    report(ceil_default, ceil_cheap, hash_ceiling, runs, hash_costs, unavailable)


def main_plan(pg):
    """The first table's runs: the ceiling, both hashes, the lock waits, reads, PostgreSQL."""
    hello = {"SQLITE_FCGI": str(BUILD / "hello-fcgi")}
    plan = [
        ("hello", "trivial FastCGI (ceiling)", hello, "/", 10),
        ("hello", "trivial FastCGI (ceiling)", hello, "/", 100),
        ("default", "/create_user/, default hash", {}, "/create_user/", 10),
        ("default", "/create_user/, default hash", {}, "/create_user/", 100),
        ("cheap", "/create_user/, cheap hash", dict(CHEAP), "/create_user/", 10),
        # The tuned default is WAL + FULL; NORMAL is the opt-in (docs/durability.md).
        # At the cheap hash, both are in the write routes' table.
        ("default", "default hash, SQLITE_SYNCHRONOUS=normal",
         {"SQLITE_SYNCHRONOUS": "normal"}, "/create_user/", 100),
        ("cheap-sqlite", "cheap hash, WRITE_LOCK_WAIT=sqlite",
         dict(CHEAP, WRITE_LOCK_WAIT="sqlite"), "/create_user/", 100),
        ("cheap-flock", "cheap hash, WRITE_LOCK_WAIT=flock",
         dict(CHEAP, WRITE_LOCK_WAIT="flock"), "/create_user/", 100),
        ("read", "GET /users/ alone (tuned)", dict(CHEAP), "/users/", 100),
        ("read", f"GET /users/ beside {WRITE_CONNECTIONS} connections creating users (tuned)",
         dict(CHEAP), "/users/", 100, True),
        ("read", f"GET /users/ beside {WRITE_CONNECTIONS} connections creating users (django-default)",
         dict(CHEAP, SQLITE_PROFILE="django-default"), "/users/", 100, True),
        # Each on a fresh database of the same server, on this machine.
        ("pg-default", "PostgreSQL, default hash",
         {"DATABASE_URL": pg.url(pg.new_database())}, "/create_user/", 100),
        ("pg-cheap", "PostgreSQL, cheap hash",
         dict(CHEAP, DATABASE_URL=pg.url(pg.new_database())), "/create_user/", 100),
    ]
    return [{"section": "main", "kind": kind, "label": label, "settings": settings, "path": path,
             "connections": conns, "writes_beside": bool(beside)}
            for kind, label, settings, path, conns, *beside in plan]


def same_database(plan):
    """{i: the run before run i on the same DB_PATH}: the big table's reads
    follow its creations, on the file they grew."""
    last, after = {}, {}
    for i, run in enumerate(plan):
        db = run["settings"].get("DB_PATH")
        if db is not None:
            if db in last:
                after[i] = last[db]
            last[db] = i
    return after


def execute(tmp, plan, runs):
    """Each run of plan (its prepare step first, if it has one), JOBS at a
    time, announced in the plan's order; into runs, in that order."""
    def start(i, run):
        if "prepare" in run:
            say(f"bench: {run.pop('prepare')()}")
        say(f"bench: [{i + 1}/{len(plan)}] {run['label']}, {run['connections']} connections, "
            f"{DURATION} s ...")

    def body(i, run):
        r = run_stack(tmp, f"run{i + 1}", run)
        r.update({k: v for k, v in run.items() if k not in ("settings", "script", "args")})
        say(f"bench:   [{i + 1}] {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, p99.9 {r['p999_ms']:.1f} ms, {r['failures']} failures")
        return r

    runs += run_in_order(plan, JOBS, start, body, same_database(plan))


def ratio(run, runs, hash_ceiling):
    if run["kind"] in ("default", "pg-default"):
        return run["rps"] / hash_ceiling, "of the hash ceiling"
    if run["kind"].startswith("cheap") or run["kind"] in ("pg-cheap", "read"):
        hello = next(r for r in runs if r["kind"] == "hello"
                     and r["connections"] == run["connections"])
        return run["rps"] / hello["rps"], "of trivial FastCGI"
    return 1.0, "ceiling"


def shares(run):
    if run["hash_share"] is None:
        return "–"
    return f"{run['hash_share'] * 100:.0f}% / {run['lock_wait_share'] * 100:.0f}%"


def report(ceil_default, ceil_cheap, hash_ceiling, runs, hash_costs, unavailable):
    lines = [
        f"Machine: {CPUS} CPUs, {WORKERS} workers; wrk {DURATION} s per run"
        f"{' (BENCH_QUICK)' if QUICK else ''}.",
        "",
        "| ceiling | value |",
        "| --- | --- |",
        f"| default hash (yescrypt, libxcrypt's cost), one call | {ceil_default['hash_ms']:.1f} ms |",
        f"| default hashes/s, one hashing process per CPU (the hash-bound ceiling) | {hash_ceiling:.1f} |",
        f"| cheap hash (sha512crypt, 1000 rounds), one call | {ceil_cheap['hash_ms']:.2f} ms |",
        f"| cheap hashes/s, one hashing process per CPU | {ceil_cheap['hashes_per_s']:.0f} |",
        f"| SQLite commits/s, one writer, WAL + NORMAL | {ceil_default['commits_normal']:.0f} |",
        f"| SQLite commits/s, one writer, WAL + FULL | {ceil_default['commits_full']:.0f} |",
        "",
        "| stored format (HASH_METHOD, HASH_COST) | one hash, one call |",
        "| --- | --- |",
        *[f"| {label} | {ms:.1f} ms |" for label, ms in hash_costs],
        "",
        "| run | connections | req/s | p50 ms | p99 ms | p99.9 ms | failures | ratio | worker time: hashing / lock wait | idle RSS per worker, max (of it private) | peak RSS | WAL after |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [main_row(r, runs, hash_ceiling) for r in runs if r["section"] == "main"]
    lines += ["", *writes.report(runs, unavailable), "", *big_table.report(runs)]
    text = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(text)
    write_csv(runs)
    print()
    print(text)
    say(f"bench: written {OUT / 'results.md'} and {OUT / 'results.csv'}")


def main_row(r, runs, hash_ceiling):
    """A run's line in the first table (its ratio kept in r for the CSV)."""
    value, what = ratio(r, runs, hash_ceiling)
    r["ratio"] = value
    label = r["label"]
    if "writes_rps" in r:
        label += f"; the writes meanwhile: {r['writes_rps']:.0f} req/s, {r['writes_failures']} failures"
    return (f"| {label} | {r['connections']} | {cells(r)} | "
            f"{value * 100:.0f}% {what} | {shares(r)} | {r['rss_max_kb'] / 1024:.1f} MiB ({r['private_max_kb'] / 1024:.1f}) | "
            f"{r['peak_kb'] / 1024:.1f} MiB | {r['wal_bytes'] / 1024:.0f} KiB |")


def write_csv(runs):
    """One line a run measured, every section's."""
    rows = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs]
    with open(OUT / "results.csv", "w", newline="") as f:
        fields = list(dict.fromkeys(k for row in rows for k in row))
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
