"""make bench's big table: /create_user/ and GET /users/ on a table of a
million users against the same on a small one, in adjacent runs of one
bench (issue 22: the cost must not grow with the table).

The million users are put in fast, before the stack starts: the schema by
`sqlite-fcgi migrate`, then one SQL statement in one transaction
(harness.sqlite_files.fill_users), whose trigger keeps the count table
exact; the fill is checked against it."""

import os
import subprocess
import time

from harness import wrk
from harness.paths import BINARY
from harness.settings import without_settings
from harness.sqlite_files import counted_users, fill_users, user_count

CONNECTIONS = 100
# key, label, path, the small table (bench.py puts 20 users in a new
# table before GET /users/: a page's worth).
ROUTES = [("create", "/create_user/, cheap hash", "/create_user/", "a new table"),
          ("users", "GET /users/", "/users/", "20 users in the table")]


def migrate(db_path):
    """The service's schema in a new file at db_path."""
    env = dict(without_settings(os.environ), DB_PATH=str(db_path))
    subprocess.run([str(BINARY), "migrate"], env=env, check=True, capture_output=True,
                   text=True, timeout=60)


def filled(db_path, users):
    """A callable that makes db_path with users in it, and says how long it took."""
    def fill():
        db_path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        migrate(db_path)
        fill_users(db_path, users)
        counted, rows = counted_users(db_path), user_count(db_path)
        if counted != users or rows != users:
            raise RuntimeError(f"{db_path}: {rows} rows, {counted} counted, {users} filled")
        return f"{users} users put in {db_path.name} in {time.monotonic() - start:.1f} s"
    return fill


def plan(base_settings, db_path, users):
    """The runs for bench.py's loop, each small-table run beside its big one;
    the big table is filled before its first run and shared by both (the
    reads run after the creations, on a few thousand users more)."""
    runs = []
    for route, label, path, small in ROUTES:
        common = {"section": "big", "route": route, "path": path, "connections": CONNECTIONS}
        runs.append(dict(common, kind=f"big-{route}-small", size="small",
                         label=f"{label}, {small}", settings=dict(base_settings)))
        big = dict(common, kind=f"big-{route}-big", size="big",
                   label=f"{label}, {users:,} users in the table",
                   settings=dict(base_settings, DB_PATH=str(db_path)))
        if route == ROUTES[0][0]:
            big["prepare"] = filled(db_path, users)
        runs.append(big)
    return runs


def report(runs):
    measured = {(r["route"], r["size"]): r for r in runs if r.get("section") == "big"}
    lines = ["| big table | req/s | p50 ms | p99 ms | p99.9 ms | failures |",
             "| --- | --- | --- | --- | --- | --- |"]
    for route, *_ in ROUTES:
        for size in ("small", "big"):
            r = measured[(route, size)]
            lines.append(f"| {r['label']} | {wrk.cells(r)} |")
    lines += ["", "| big table over a new one (req/s, this run) | ratio | issue 22 asks |",
              "| --- | --- | --- |"]
    for route, label, *_ in ROUTES:
        big, small = measured[(route, "big")], measured[(route, "small")]
        lines.append(f"| {label} | {big['rps'] / small['rps'] * 100:.0f}% "
                     f"({big['rps']:.0f} / {small['rps']:.0f}) | >= 90% |")
    return lines
