"""make bench's simulated slow disk (bench/slow_sync.c, LD_PRELOAD): it
delays the database's syncs, those SQLite itself makes included, and no
others; it says it is simulated; a stack's workers load it.  The delay is
checked from below only (a sleep never ends early): a functional check that
the library is at work, not a figure."""

import os
import subprocess
import sys
import textwrap
import time

from bench.harness import slow_disk
from bench.harness.stack import Stack
from tests.harness.built import built

CALLS = 20

# Run under the library: syncs a file N times (or commits N times through
# SQLite), then prints the library's count and the time taken.
PROBE = textwrap.dedent("""
    import ctypes, os, sqlite3, sys, time
    path, how, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = time.monotonic()
    if how == "fdatasync" or how == "fsync":
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        for _ in range(n):
            getattr(os, how)(fd)
        os.close(fd)
    else:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = wal")
        con.execute("PRAGMA synchronous = full")
        con.execute("CREATE TABLE IF NOT EXISTS t (x)")
        for i in range(n):
            con.execute("INSERT INTO t VALUES (?)", (i,))
        con.close()
    elapsed = time.monotonic() - start
    count = ctypes.CDLL(None).slow_sync_count
    count.restype = ctypes.c_ulong
    print(count(), elapsed)
""")


def probe(tmp_path, how, db_name="db.sqlite3", synced="db.sqlite3", delay_us=1000):
    """(delayed calls, seconds, stderr) of PROBE run under the library with
    SLOW_SYNC_DB naming db_name, the file synced being synced."""
    shim = built(str(slow_disk.SHIM.relative_to(slow_disk.ROOT)), slow_disk.SHIM)
    env = dict(os.environ, **slow_disk.env(tmp_path / db_name, delay_us))
    assert env["LD_PRELOAD"] == str(shim)
    run = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / synced), how, str(CALLS)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    count, seconds = run.stdout.split()
    return int(count), float(seconds), run.stderr


def test_each_sync_of_the_database_is_delayed_and_labelled_simulated(tmp_path):
    for how in ("fdatasync", "fsync"):
        count, seconds, stderr = probe(tmp_path, how)
        assert count == CALLS, how
        assert seconds >= CALLS * 0.001, how
        # Once per process, and it says the disk is simulated.
        assert stderr.count(slow_disk.BANNER) == 1, stderr
        assert "simulated slow disk" in stderr and "delayed by 1000 us" in stderr


def test_sqlite_commits_meet_the_delay_in_its_wal(tmp_path):
    # One fdatasync of the WAL a commit at synchronous=FULL: the library
    # catches the call SQLite really makes, on the file it really syncs.
    count, seconds, _ = probe(tmp_path, "sqlite")
    assert count >= CALLS
    assert seconds >= CALLS * 0.001


def test_other_files_and_a_zero_delay_are_left_alone(tmp_path):
    count, _, stderr = probe(tmp_path, "fdatasync", synced="other.sqlite3")
    assert count == 0 and stderr == ""
    count, _, stderr = probe(tmp_path, "fdatasync", delay_us=0)
    assert count == 0 and stderr == ""


def test_a_stacks_workers_load_it(tmp_path):
    built("bench-build", slow_disk.SHIM)
    # 50 ms a sync: twenty commits take a second at least, far more than
    # this disk's own syncs take (1 ms would be lost in them).
    delay_us = 50_000
    stack = Stack(tmp_path / "run", HASH_METHOD="sha512crypt", HASH_COST="1000")
    stack.env.update(slow_disk.env(stack.db_path, delay_us))
    stack.start()
    try:
        start = time.monotonic()
        for _ in range(CALLS):
            assert stack.get("/create_user/").status_code == 200
        elapsed = time.monotonic() - start
    finally:
        stack.stop()
    assert f"{slow_disk.BANNER}: each fdatasync/fsync of {stack.db_path.resolve()}" in stack.app_log()
    assert elapsed >= CALLS * delay_us / 1e6  # one sync a commit at least
