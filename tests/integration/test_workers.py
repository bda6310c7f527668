"""The worker pool: spawn-fcgi + multiwatch, signals, locking, start-up refusals."""

import os
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.inflight import HeldWriteLock, stop_requested, stopped_after
from tests.harness.waiting import wait_for
from bench.harness.stack import BINARY, Stack


def listening_socket(pid):
    return os.readlink(f"/proc/{pid}/fd/0")


def test_three_workers_share_one_socket(make_stack):
    s = make_stack(WORKERS=3)
    pids = s.wait_for_workers(3)
    sockets = {listening_socket(p) for p in pids}
    assert len(sockets) == 1 and next(iter(sockets)).startswith("socket:[")
    for p in pids:
        assert open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[:2] == [
            str(s.env["SQLITE_FCGI"]).encode(), b"serve"]


def test_killed_worker_is_replaced(make_stack):
    s = make_stack(WORKERS=3)
    pids = s.wait_for_workers(3)
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = s.worker_pids()
        if len(now) == 3 and pids[0] not in now:
            break
        time.sleep(0.05)
    now = s.worker_pids()
    assert len(now) == 3 and pids[0] not in now
    assert s.get("/create_user/").status_code == 200


STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1]


# Every stop signal with one serving thread a worker; multiwatch's with four.
@pytest.mark.parametrize("sig, threads", [(sig, 1) for sig in STOP_SIGNALS] + [(signal.SIGUSR1, 4)],
                         ids=lambda v: v.name if isinstance(v, signal.Signals) else f"{v}-threads")
def test_a_stop_signal_finishes_the_request_in_flight(make_stack, sig, threads):
    """A request is provably in flight: the test holds the write lock file, and
    /proc/locks shows the worker that has the request blocked on it. Both
    workers get the signal; the idle one stops at once, the busy one only
    after the request it holds is answered."""
    s = make_stack(WORKERS=2, WORKER_THREADS=threads, SQLITE_BUSY_TIMEOUT_MS=60000,
                   HASH_METHOD="sha512crypt", HASH_COST=1000)
    pids = s.wait_for_workers(2)
    # The lock is let go before the pool waits for the request, should a check fail.
    with ThreadPoolExecutor(1) as pool, HeldWriteLock(s.db_path) as lock:
        future = pool.submit(s.get, "/create_user/")
        busy = lock.wait_for_waiter()
        idle, = set(pids) - {busy}
        for p in pids:
            os.kill(p, sig)
        wait_for(lambda: stopped_after(s.app_log(), idle) is not None,
                 what="the idle worker's stop")
        # The busy worker has taken the signal too, and still holds the request.
        assert wait_for(lambda: stop_requested(s.app_log(), busy),
                        what="the busy worker's stop request") == (sig.name, 1)
        assert not future.done()
        assert stopped_after(s.app_log(), busy) is None
        lock.release()
        r = future.result()
    assert (r.status_code, r.text) == (200, "User created, num users: 1")
    assert s.user_count() == 1
    # The worker that had it says so once it is done (1 + the start-up /healthz it may have had).
    assert wait_for(lambda: stopped_after(s.app_log(), busy), what="the busy worker's stop") >= 1
    new = s.wait_for_workers(2)
    assert not set(new) & set(pids)


def test_locked_database_is_503_with_retry_after(make_stack):
    # A hash of about a millisecond, so that the time measured is the wait.
    s = make_stack(WORKERS=2, SQLITE_BUSY_TIMEOUT_MS=1000, HASH_METHOD="sha256crypt",
                   HASH_COST=1000)
    s.get("/create_user/")
    holder = sqlite3.connect(s.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        before = time.monotonic()
        r = s.get("/create_user/")
        waited = time.monotonic() - before
        assert r.status_code == 503
        assert r.text == "database is locked\n"
        assert r.headers["Retry-After"] == "1"
        # SQLite's busy handler sleeps exactly the timeout in all before it
        # gives up; a lower bound only grows on a loaded machine.
        assert waited >= 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "create_user: begin: database is locked (SQLITE_BUSY, 5)" in s.app_log()
    assert s.get("/create_user/").status_code == 200
    assert s.user_count() == 2


def test_django_default_reproduces_database_is_locked(make_stack):
    s = make_stack(WORKERS=3, SQLITE_PROFILE="django-default")
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: s.get("/create_user/"), range(40)))
    locked = [r for r in responses if r.status_code == 503]
    ok = [r for r in responses if r.status_code == 200]
    assert locked, "the django-default profile should fail under concurrent writes"
    assert all(r.text == "database is locked\n" for r in locked)
    assert len(ok) + len(locked) == 40
    assert s.user_count() == len(ok)


@pytest.mark.parametrize("setting, value, message", [
    ("SQLITE_PROFILE", "bogus", "SQLITE_PROFILE=bogus: must be one of tuned, django-default"),
    ("WRITE_LOCK_WAIT", "spin", "WRITE_LOCK_WAIT=spin: must be one of sqlite, flock"),
    ("MULTIWATCH_RETRIES", "-1", "MULTIWATCH_RETRIES=-1: must be a whole number from 0 to 1000000"),
    ("MULTIWATCH_TIMEOUT_MS", "0",
     "MULTIWATCH_TIMEOUT_MS=0: must be a whole number from 1 to 3600000"),
])
def test_bad_setting_starts_nothing(tmp_path, setting, value, message):
    s = Stack(tmp_path / "bad", **{setting: value})
    result = s.run_script("start")
    assert result.returncode != 0
    assert message in result.stderr
    assert not (s.run_dir / "workers.pid").exists()
    assert not (s.run_dir / "nginx.pid").exists()


def test_two_stacks_side_by_side_each_stop_stops_its_own(tmp_path):
    a = Stack(tmp_path / "a", WORKERS=2).start()
    try:
        b = Stack(tmp_path / "b", WORKERS=2).start()
        try:
            assert a.port != b.port
            a_pids = [a.pid("nginx"), a.pid("workers")] + a.wait_for_workers(2)
            b_pids = [b.pid("nginx"), b.pid("workers")] + b.wait_for_workers(2)
            a.stop()
            for p in a_pids:
                assert not os.path.exists(f"/proc/{p}"), f"a's pid {p} still running"
            for p in b_pids:
                assert os.path.exists(f"/proc/{p}"), f"b's pid {p} stopped with a"
            assert b.get("/create_user/").text == "User created, num users: 1"
        finally:
            b.stop()
    finally:
        a.stop()


def test_stop_leaves_no_process_behind(tmp_path):
    s = Stack(tmp_path / "stop", WORKERS=3).start()
    pids = [s.pid("nginx"), s.pid("workers")] + s.wait_for_workers(3)
    s.stop()
    for p in pids:
        assert not os.path.exists(f"/proc/{p}"), f"pid {p} still running"
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(s.run_dir) not in ps


def test_deleted_database_is_503_then_recovers(make_stack):
    """A deleted file must not swallow writes; a new file is picked up by itself."""
    s = make_stack(WORKERS=2)
    assert s.get("/create_user/").status_code == 200
    for suffix in ("", "-wal", "-shm"):
        path = f"{s.db_path}{suffix}"
        if os.path.exists(path):
            os.unlink(path)
    for _ in range(4):  # every worker sees it, whichever gets the request
        r = s.get("/create_user/")
        assert r.status_code == 503
        assert r.text == "database unavailable\n"
        assert r.headers["Retry-After"] == "1"
    assert "the database file was moved or deleted" in s.app_log()
    migrate = subprocess.run([s.env["SQLITE_FCGI"], "migrate"], env=s.env,
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    counts = [s.get("/create_user/").text for _ in range(4)]
    assert counts == [f"User created, num users: {n}" for n in range(1, 5)]
    assert s.user_count() == 4


def test_database_recreated_before_a_worker_looks_is_served_after_one_503(make_stack):
    """The whole database (file, -wal, -shm) deleted and a new one migrated
    before the worker's next request: its connection still holds the old
    inodes, so the new file cannot have the old file's number.  No -wal or
    -shm of the old file is left to pair with it, so the worker answers one
    503 (its connection was on the deleted file), then serves the new file
    without a restart."""
    s = make_stack(WORKERS=1)
    assert s.get("/create_user/").text == "User created, num users: 1"
    pid = s.worker_pids()
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{s.db_path}{suffix}")
    migrate = subprocess.run([s.env["SQLITE_FCGI"], "migrate"], env=s.env,
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    r = s.get("/create_user/")
    assert (r.status_code, r.text) == (503, "database unavailable\n")
    assert s.get("/create_user/").text == "User created, num users: 1"
    assert s.worker_pids() == pid
    assert "gone with its -wal and -shm" in s.app_log()
    assert "took the place" not in s.app_log()


def fresh_database(s, path):
    """A migrated, empty database file at path, made by the service's own migrate."""
    migrate = subprocess.run([s.env["SQLITE_FCGI"], "migrate"], env=dict(s.env, DB_PATH=str(path)),
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr


def test_replaced_database_is_refused_until_the_pool_restarts(make_stack, tmp_path):
    """A file renamed over DB_PATH: the worker's connection still has the old
    one open.  The worker never pairs the new file with the old one's WAL
    (docs/durability.md): /healthz and every request answer 503 naming the
    fix, until the pool restarts; the restarted pool serves the new file."""
    s = make_stack(WORKERS=1)
    assert s.get("/create_user/").text == "User created, num users: 1"
    fresh_database(s, tmp_path / "new.sqlite3")
    os.replace(tmp_path / "new.sqlite3", s.db_path)
    for path in ("/healthz", "/create_user/", "/healthz"):
        r = s.get(path)
        assert r.status_code == 503, path
        assert "replaced under the running pool: restart the pool" in r.text, r.text
    assert "took the place of the one this worker served" in s.app_log()
    s.stop()
    s.start()
    assert s.get("/healthz").status_code == 200
    assert s.get("/create_user/").text == "User created, num users: 1"  # in the new file


def test_moved_database_is_503_and_keeps_its_writes_out(make_stack):
    """A database moved away with its WAL and index: no write goes to it
    through the connection still open on it."""
    s = make_stack(WORKERS=1)
    assert s.get("/create_user/").status_code == 200
    moved = f"{s.db_path}.moved"
    for suffix in ("-wal", "-shm", ""):
        os.rename(f"{s.db_path}{suffix}", f"{moved}{suffix}")
    r = s.get("/create_user/")
    assert (r.status_code, r.text) == (503, "database unavailable\n")
    con = sqlite3.connect(moved)
    try:
        assert con.execute("SELECT COUNT(*) FROM auth_user").fetchone() == (1,)
    finally:
        con.close()


def test_a_crash_loop_is_given_up_after_multiwatch_retries(tmp_path):
    """A worker that dies at once, every time: multiwatch starts the slot
    MULTIWATCH_RETRIES + 1 times, then gives it up, and start fails."""
    starts = tmp_path / "starts"
    crashing = tmp_path / "sqlite-fcgi"
    crashing.write_text(f"""#!/bin/sh
# config and migrate as the real binary; serve dies at once.
if [ "$1" = serve ]; then echo start >>"{starts}"; exit 1; fi
exec "{BINARY}" "$@"
""")
    crashing.chmod(0o755)
    s = Stack(tmp_path / "loop", WORKERS=1, SQLITE_FCGI=crashing, MULTIWATCH_RETRIES=2,
              MULTIWATCH_TIMEOUT_MS=1000, START_TIMEOUT=10)
    try:
        result = s.run_script("start")
        assert result.returncode != 0
        wait_for(lambda: "died to often" in s.app_log(), what="multiwatch giving up")
        assert starts.read_text().split() == ["start"] * 3
    finally:
        s.stop()


def test_settings_not_applied_are_503_until_they_are(make_stack):
    """A worker reopening a file in rollback-journal mode that another
    connection is reading cannot switch it to WAL (that needs the file to
    itself): it answers 503 `database unavailable`, says why in its log, and
    opens the file again on the next request, which succeeds once the reader
    is gone."""
    s = make_stack(WORKERS=1, SQLITE_BUSY_TIMEOUT_MS=100)
    assert s.get("/create_user/").status_code == 200
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{s.db_path}{suffix}")
    assert s.get("/create_user/").status_code == 503  # the deletion noticed
    migrate = subprocess.run([s.env["SQLITE_FCGI"], "migrate"],
                             env=dict(s.env, SQLITE_JOURNAL_MODE="delete"),
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    reader = sqlite3.connect(s.db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM auth_user").fetchall()
        for _ in range(2):  # each request tries the open again
            r = s.get("/create_user/")
            assert (r.status_code, r.text) == (503, "database unavailable\n")
            assert r.headers["Retry-After"] == "1"
    finally:
        reader.close()
    assert f"database unavailable: {s.db_path}: applying settings: database is locked" \
        in s.app_log()
    assert s.get("/create_user/").text == "User created, num users: 1"
    assert s.query("PRAGMA journal_mode") == [("wal",)]
