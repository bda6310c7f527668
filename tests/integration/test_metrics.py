"""GET /metrics: Prometheus text, summed over the workers, kept across worker deaths."""

import errno
import os
import signal
import sqlite3
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.inflight import HeldWriteLock
from tests.harness.locks import holds_wal_snapshot
from tests.harness.metrics import busy_count, created_200, scrape
from bench.harness.ports import free_port
from bench.harness.settings import without_settings
from bench.harness.stack import BINARY, ROOT
from tests.harness.waiting import wait_for


def one_request_on_each_worker(s, pids):
    """Holds the write lock file until /proc/locks shows every worker blocked
    on it with a request of its own, then lets them all finish: each worker
    has served one, which no scheduling can arrange otherwise."""
    # The lock is let go before the pool waits for its requests, should a check fail.
    with ThreadPoolExecutor(len(pids)) as pool, HeldWriteLock(s.db_path) as lock:
        futures = [pool.submit(s.get, "/create_user/") for _ in pids]
        wait_for(lambda: sorted(lock.waiters()) == pids, what="every worker blocked")
        lock.release()
        return [f.result().status_code for f in futures]


def test_counts_are_summed_over_workers_and_survive_a_kill(make_stack):
    # One thread a worker, so that each of the three takes one of the first
    # three requests (test_threads.py counts the threads of a worker).
    s = make_stack(WORKERS=3, WORKER_THREADS=1, HASH_METHOD="sha512crypt", HASH_COST=1000)
    pids = s.wait_for_workers(3)
    # Each worker serves one of these: the sums below are over all three slots.
    assert one_request_on_each_worker(s, pids) == [200] * 3
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: s.get("/create_user/").status_code, range(57)))
    assert statuses == [200] * 57
    s.get("/nope")
    samples = scrape(s)
    assert created_200(samples) == 60
    assert samples[("sqlite_fcgi_requests_total", (("route", "other"), ("status", "404")))] == 1
    assert samples[("sqlite_fcgi_create_user_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_password_hash_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_write_lock_wait_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_create_user_seconds_bucket", (("le", "+Inf"),))] == 60
    assert samples[("sqlite_fcgi_wal_bytes", ())] > 0
    assert samples[("sqlite_fcgi_worker_restarts_total", ())] == 0
    log = s.app_log()

    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(s.worker_pids()) != 3 or pids[0] in s.worker_pids()):
        time.sleep(0.05)
    for _ in range(9):
        assert s.get("/create_user/").status_code == 200
    samples = scrape(s)
    assert created_200(samples) == 69  # nothing lost with the killed worker, nothing twice
    assert samples[("sqlite_fcgi_worker_restarts_total", ())] == 1
    assert s.user_count() == 69
    assert "serving without metrics" not in log


def test_locked_answers_are_counted_by_code(make_stack):
    s = make_stack(WORKERS=2, SQLITE_BUSY_TIMEOUT_MS=50)
    holder = sqlite3.connect(s.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert s.get("/create_user/").status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    samples = scrape(s)
    assert busy_count(samples, "SQLITE_BUSY") == 1
    assert samples[("sqlite_fcgi_requests_total",
                    (("route", "/create_user/"), ("status", "503")))] == 1


def test_busy_snapshot_is_counted_by_its_own_code(make_stack):
    """The seed's failure in WAL mode: a deferred transaction that has read,
    then writes after another connection committed, gets SQLITE_BUSY_SNAPSHOT.
    The worker runs the seed's order (BEGIN, read, hash, insert); the test
    commits a user as soon as /proc/locks shows the worker's read snapshot,
    while the worker is in a hash of about a second (sha512crypt, 2,000,000
    rounds): the commit takes milliseconds, so the margin is the hash."""
    s = make_stack(WORKERS=1, SQLITE_TXN="deferred", SQLITE_JOURNAL_MODE="wal",
                   HASH_WHEN="inside-transaction", HASH_METHOD="sha512crypt",
                   HASH_COST=2000000)
    worker, = s.wait_for_workers(1)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(s.get, "/create_user/")
        wait_for(lambda: holds_wal_snapshot(s.db_path, worker), what="the worker's snapshot")
        other = sqlite3.connect(s.db_path, isolation_level=None, timeout=10)
        try:
            other.execute("INSERT INTO auth_user (password, is_superuser, username, last_name,"
                          " email, is_staff, is_active, date_joined, first_name)"
                          " VALUES ('x', 0, 'other', '', '', 0, 1, '2024-01-01', '')")
        finally:
            other.close()
        assert not future.done()  # the worker was still hashing
        r = future.result()
    assert (r.status_code, r.text) == (503, "database is locked\n")
    samples = scrape(s)
    assert busy_count(samples, "SQLITE_BUSY_SNAPSHOT") == 1
    assert "insert user: database is locked (SQLITE_BUSY_SNAPSHOT" in s.app_log()
    assert s.user_count() == 1  # only the test's own


def test_each_pool_counts_afresh_after_a_resize(make_stack):
    """deploy/pool/workers.sh gives each pool its own METRICS_PATH (SOCKET.metrics):
    after a resize, /metrics counts what the new pool served, from zero."""
    s = make_stack(WORKERS=2, HASH_METHOD="sha512crypt", HASH_COST=1000)
    for _ in range(3):
        assert s.get("/create_user/").status_code == 200
    assert created_200(scrape(s)) == 3
    resized = s.run_script("resize", "1", timeout=120)
    assert resized.returncode == 0, resized.stderr
    s.wait_for_workers(1)
    for _ in range(2):
        assert s.get("/create_user/").status_code == 200
    samples = scrape(s)
    assert created_200(samples) == 2
    assert samples[("sqlite_fcgi_worker_restarts_total", ())] == 0
    assert s.user_count() == 5
    assert not list(s.run_dir.glob("fcgi-1.sock*"))  # the old pool's file went with it


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted for the test and filled up; unmounted after,
    whatever the test did."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                   check=True, timeout=30)
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], timeout=30).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mnt)], timeout=30)


def test_a_full_disk_leaves_the_workers_serving_without_metrics(make_stack, full_tmpfs):
    """METRICS_PATH on a full file system: the file cannot be allocated, and
    the workers serve without metrics.  A file only grown with ftruncate is
    sparse there, and the first store to its mapping raised SIGBUS: every
    worker died as it started."""
    s = make_stack(WORKERS=2, HASH_METHOD="sha512crypt", HASH_COST=1000,
                   METRICS_PATH=full_tmpfs / "pool.metrics")
    pids = s.wait_for_workers(2)
    for _ in range(4):
        assert s.get("/create_user/").status_code == 200
    r = s.get("/metrics")
    assert (r.status_code, r.text) == (503, "metrics unavailable\n")
    assert s.worker_pids() == pids  # none died
    assert s.user_count() == 4
    assert "serving without metrics" in s.app_log()
    assert "No space left on device" in s.app_log()



def test_a_tcp_pool_keeps_its_counters_beside_the_database(tmp_path):
    """deploy/pool/workers.sh with FCGI_LISTEN and no METRICS_PATH: the file goes
    beside DB_PATH, in the service's directory, 0600; nothing in TMPDIR (a
    predictable name in a shared directory could be planted by anyone)."""
    tmpdir = tmp_path / "shared-tmp"
    tmpdir.mkdir()
    port = free_port()
    env = without_settings(os.environ)
    env.update(DB_PATH=str(tmp_path / "db.sqlite3"), FCGI_LISTEN=f"127.0.0.1:{port}",
               WORKERS="1", SQLITE_FCGI=str(BINARY), TMPDIR=str(tmpdir))
    log = open(tmp_path / "pool.log", "wb")
    pool = subprocess.Popen([str(ROOT / "deploy/pool/workers.sh")], env=env, stdout=log,
                            stderr=log, start_new_session=True)
    try:
        up = subprocess.run([str(ROOT / "deploy/pool/workers.sh"), "wait", f"127.0.0.1:{port}",
                             str(pool.pid), "1"], env=env, capture_output=True, text=True,
                            timeout=60)
        assert up.returncode == 0, up.stderr + (tmp_path / "pool.log").read_text()
        metrics = tmp_path / f"db.sqlite3-metrics-127.0.0.1-{port}"
        wait_for(metrics.exists, 10, "the pool's metrics file")
        assert stat.S_IMODE(metrics.stat().st_mode) == 0o600
        assert list(tmpdir.iterdir()) == []
    finally:
        pool.terminate()  # multiwatch: its workers finish and exit with it
        try:
            pool.wait(30)
        finally:
            try:
                os.killpg(pool.pid, signal.SIGKILL)  # whatever is left of the pool
            except ProcessLookupError:
                pass
            pool.wait()
            log.close()
