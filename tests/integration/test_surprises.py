"""Failures that used to pass in silence, each against the real stack: a
constraint other than the username's, the kept count row deleted, the
flock wait plus SQLite's own wait, accept() out of file descriptors."""

import resource
import sqlite3
import subprocess
import threading
import time

import requests

from tests.harness.inflight import HeldWriteLock
from bench.harness.stack import BINARY

CHEAP = {"HASH_METHOD": "sha512crypt", "HASH_COST": "1000"}


def execute(stack, sql):
    con = sqlite3.connect(stack.db_path, timeout=10, isolation_level=None)
    try:
        con.execute(sql)
    finally:
        con.close()


def wait_for_log(stack, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in stack.app_log():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{stack.app_log()}"
        time.sleep(0.05)


def test_only_a_taken_username_is_409(make_stack):
    s = make_stack(WORKERS=1, **CHEAP)
    execute(s, "CREATE TRIGGER refuse_test BEFORE INSERT ON auth_user"
               " WHEN NEW.email LIKE '%@example.com' OR NEW.email = 'x@refused.test'"
               " BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")
    before = s.user_count()
    r = s.post("/create_user/", data={"username": "t1", "password": "pw",
                                      "email": "x@refused.test"})
    assert (r.status_code, r.text) == (500, "internal error\n")
    # A random user is not retried under new names as if the name were taken.
    r = s.get("/create_user/")
    assert (r.status_code, r.text) == (500, "internal error\n")
    assert s.user_count() == before
    log = s.app_log()
    assert log.count("refused by a test trigger") == 2, log
    assert "SQLITE_CONSTRAINT" in log
    # The username's own constraint is still a 409.
    assert s.post("/create_user/", data={"username": "t2", "password": "pw"}).status_code == 200
    r = s.post("/create_user/", data={"username": "t2", "password": "pw"})
    assert (r.status_code, r.text) == (409, "username: already taken\n")


def test_a_missing_count_row_is_named_and_migrate_repairs_it(make_stack):
    s = make_stack(WORKERS=1, **CHEAP)
    for name in ("c1", "c2"):
        assert s.post("/create_user/", data={"username": name, "password": "pw"}).status_code == 200
    execute(s, "DELETE FROM sqlitefcgi_user_count")
    r = s.post("/create_user/", data={"username": "c3", "password": "pw"})
    assert r.status_code == 500
    assert "run 'sqlite-fcgi migrate' to recount" in s.app_log()
    assert s.user_count() == 2, "the refused user was half-written"
    out = subprocess.run([str(BINARY), "migrate"], env=s.env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "the kept user count was missing: recounted the users" in out.stderr
    r = s.post("/create_user/", data={"username": "c3", "password": "pw"})
    assert (r.status_code, r.text) == (200, "User created, num users: 3")


def test_flock_and_sqlite_waits_together_stay_within_the_busy_timeout(make_stack):
    busy_ms, flock_held_s = 2000, 1.5
    s = make_stack(WORKERS=1, WRITE_LOCK_WAIT="flock", SQLITE_BUSY_TIMEOUT_MS=busy_ms, **CHEAP)
    # Another program holds SQLite's write lock alone (as a sqlite3 shell
    # that does not know the lock file would), and the lock file.
    con = sqlite3.connect(s.db_path, timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    result = {}

    def create():
        start = time.monotonic()
        r = requests.get(s.url("/create_user/"), timeout=30)
        result.update(status=r.status_code, seconds=time.monotonic() - start)

    t = threading.Thread(target=create)
    try:
        with HeldWriteLock(s.db_path) as lock:
            t.start()
            # From the moment the worker is blocked on the lock file (the
            # kernel's list says so), it spends flock_held_s of its budget there.
            worker = lock.wait_for_waiter()
            time.sleep(flock_held_s)
            assert lock.waiters() == [worker], "the worker stopped waiting for the lock file early"
            lock.release()
            t.join(timeout=30)
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert result["status"] == 503
    # Before: 1.5 s in flock and then 2 s more in SQLite's busy handler.
    # Now the busy timeout bounds both; 0.8 s of margin for a loaded machine.
    assert busy_ms / 1000 - 0.1 <= result["seconds"] < busy_ms / 1000 + 0.8, result


def lowest_free_fd(pid):
    from pathlib import Path
    used = {int(p.name) for p in Path(f"/proc/{pid}/fd").iterdir()}
    fd = 0
    while fd in used:
        fd += 1
    return fd


def test_accept_out_of_file_descriptors_backs_off_and_keeps_serving(make_stack):
    s = make_stack(WORKERS=1, **CHEAP)
    s.get("/healthz")
    [pid] = s.wait_for_workers(1)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    # The next descriptor the worker would get is over its limit: EMFILE.
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free_fd(pid), hard))
    result = {}
    t = threading.Thread(target=lambda: result.update(r=s.get("/healthz")))
    t.start()
    wait_for_log(s, "accept failed: Too many open files: retrying")
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    t.join(timeout=30)
    assert result["r"].status_code == 200
    # The same worker served it: it backed off instead of exiting.
    assert s.worker_pids() == [pid]
