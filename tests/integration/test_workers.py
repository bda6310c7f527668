"""The worker pool: spawn-fcgi + multiwatch, signals, locking, start-up refusals."""

import os
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from tests.harness.stack import Stack


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


def test_sigterm_finishes_the_request_in_flight(make_stack):
    """Workers told to stop mid-request answer it first; multiwatch restarts them."""
    s = make_stack(WORKERS=2)
    pids = s.wait_for_workers(2)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(s.get, "/create_user/") for _ in range(16)]
        time.sleep(0.1)  # yescrypt takes ~60 ms: requests are in flight now
        for p in pids:
            os.kill(p, signal.SIGTERM)
        statuses = [f.result().status_code for f in futures]
    assert statuses == [200] * 16
    assert s.user_count() == 16
    assert "stopping after" in s.app_log()
    new = s.wait_for_workers(2)
    assert not set(new) & set(pids)


def test_locked_database_is_503_with_retry_after(make_stack):
    s = make_stack(WORKERS=2, SQLITE_BUSY_TIMEOUT_MS=200)
    s.get("/create_user/")
    holder = sqlite3.connect(s.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        before = time.monotonic()
        r = s.get("/create_user/")
        assert r.status_code == 503
        assert r.text == "database is locked\n"
        assert r.headers["Retry-After"] == "1"
        assert time.monotonic() - before >= 0.2  # it waited the busy timeout
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


def test_bad_setting_starts_nothing(tmp_path):
    s = Stack(tmp_path / "bad", SQLITE_PROFILE="bogus")
    result = s.run_script("start")
    assert result.returncode != 0
    assert "SQLITE_PROFILE=bogus: must be one of tuned, django-default" in result.stderr
    assert not (s.run_dir / "workers.pid").exists()
    assert not (s.run_dir / "nginx.pid").exists()


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
