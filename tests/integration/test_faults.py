"""Faults under a running stack: the database locked from outside for longer
than the busy timeout, a full disk, a read-only database directory, and the
database file gone while workers restart.  Each answers 503 with a clear
message and a log line, no worker crashes (the pids stay the same), and the
service recovers by itself once the fault is removed.

The disk and directory faults mount a tmpfs and a read-only bind mount, so
they need root (make test runs as root)."""

import os
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def start_on(make_stack, db_dir, **settings):
    s = make_stack(DB_PATH=str(db_dir / "db.sqlite3"), HASH_METHOD="sha512crypt",
                   HASH_COST=1000, **settings)
    s.db_path = db_dir / "db.sqlite3"
    return s


@contextmanager
def mounted(args, target):
    subprocess.run(["mount", *args, str(target)], check=True)
    try:
        yield
    finally:
        if subprocess.run(["umount", str(target)]).returncode != 0:
            subprocess.run(["umount", "-l", str(target)])  # still busy: detach it


def create(s, name):
    return s.post("/create_user/", data={"username": name, "password": "pw"})


def assert_503(r, message):
    assert r.status_code == 503, r.text
    assert r.text == message + "\n"
    assert r.headers["Retry-After"] == "1"


def test_locked_longer_than_busy_timeout_by_outside_sqlite3(make_stack, tmp_path):
    s = start_on(make_stack, tmp_path, WORKERS=2, SQLITE_BUSY_TIMEOUT_MS=300)
    pids = s.wait_for_workers(2)
    assert create(s, "before").status_code == 200
    holder = subprocess.Popen(["sqlite3", str(s.db_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        holder.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'held';\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "held"
        for i in range(4):
            t0 = time.monotonic()
            assert_503(create(s, f"locked{i}"), "database is locked")
            # It waited the busy timeout first: SQLite sleeps the whole 300 ms
            # before it gives up, and the 0.5 ms hash cannot make up the
            # difference; a lower bound only grows on a loaded machine.
            assert time.monotonic() - t0 >= 0.3
    finally:
        holder.stdin.write("ROLLBACK;\n.quit\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    assert "database is locked (SQLITE_BUSY, 5)" in s.app_log()
    assert [create(s, f"after{i}").status_code for i in range(4)] == [200] * 4
    assert s.worker_pids() == pids
    assert s.user_count() == 5


@needs_root
def test_disk_full(make_stack, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with mounted(["-t", "tmpfs", "-o", "size=2m", "tmpfs"], data):
        s = start_on(make_stack, data, WORKERS=2)
        pids = s.wait_for_workers(2)
        assert create(s, "before").status_code == 200
        filler = data / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
        try:
            for i in range(10):
                r = s.post("/create_user/", data={"username": f"full{i}", "password": "p" * 500,
                                                  "email": "e" * 200 + "@example.com"})
                assert_503(r, "database unavailable")
        finally:
            filler.unlink()
        assert "database or disk is full (SQLITE_FULL, 13)" in s.app_log()
        assert [create(s, f"after{i}").status_code for i in range(4)] == [200] * 4
        assert s.worker_pids() == pids
        assert s.user_count() == 5
        assert s.query("PRAGMA integrity_check") == [("ok",)]
        s.stop()


@needs_root
def test_read_only_directory(make_stack, tmp_path):
    """A read-only bind mount over the database's directory.  Workers that
    already have the files open keep them (the kernel lets an open file be
    written), so the fault shows in each worker opening the database from
    now on: a restart (here SIGTERM, as multiwatch restarts after a crash)
    or a reopen after a failure."""
    data = tmp_path / "data"
    data.mkdir()
    s = start_on(make_stack, data, WORKERS=2)
    old = s.wait_for_workers(2)
    assert create(s, "before").status_code == 200
    with mounted(["--bind", str(data)], data):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(data)], check=True)
        for p in old:
            os.kill(p, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while set(s.worker_pids()) & set(old) or len(s.worker_pids()) != 2:
            assert time.monotonic() < deadline, "workers not restarted"
            time.sleep(0.05)
        pids = s.worker_pids()
        for i in range(6):
            assert_503(create(s, f"ro{i}"), "database unavailable")
        assert s.worker_pids() == pids  # 503s, no crash loop
        assert "attempt to write a readonly database" in s.app_log()
    assert [create(s, f"after{i}").status_code for i in range(4)] == [200] * 4
    assert s.worker_pids() == pids
    assert s.user_count() == 5
    assert s.query("PRAGMA integrity_check") == [("ok",)]


def test_workers_restarted_while_the_database_is_gone(make_stack, tmp_path):
    """Every worker killed while the file is deleted: the new ones must not
    crash-loop (multiwatch would give up on them), but answer 503 until the
    file is back, then serve without being restarted."""
    s = start_on(make_stack, tmp_path, WORKERS=2)
    old = s.wait_for_workers(2)
    assert create(s, "before").status_code == 200
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{s.db_path}{suffix}"):
            os.unlink(f"{s.db_path}{suffix}")
    for p in old:
        os.kill(p, signal.SIGKILL)
    time.sleep(1.5)  # longer than multiwatch's restart window
    pids = s.wait_for_workers(2)
    assert not set(pids) & set(old)
    for _ in range(4):
        assert_503(create(s, "gone"), "database unavailable")
    assert "database unavailable:" in s.app_log()
    assert "died to often" not in s.app_log()
    migrate = subprocess.run([str(s.env["SQLITE_FCGI"]), "migrate"], env=s.env,
                             capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    assert [create(s, f"back{i}").status_code for i in range(4)] == [200] * 4
    assert s.worker_pids() == pids
    assert s.user_count() == 4
