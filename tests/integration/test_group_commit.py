"""GROUP_COMMIT=on through the real stack: the writes of a worker's threads
share transactions on its one writer connection (app/src/commit.c), each
answered after its batch's COMMIT.  A taken username failing alone among
others, an I/O error at COMMIT failing its whole batch and the service
recovering, a stop that finishes the writes held in the worker's queue, the
matrix's writes.  (test_postgres checks exact counts under 200 concurrent
creations with it on and off, on both engines; test_chaos and
test_powerloss run with it on; tests/unit/test_commit.c checks the queue
itself.)"""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.harness import faults
from tests.harness.inflight import (HeldWriteLock, stop_requested, stopped_after,
                                    wait_for_writes_held)
from tests.harness.metrics import group_commit_batches, scrape
from tests.harness.waiting import wait_for
from bench.harness.matrix import WRITES
from bench.harness.sqlite_files import users_in

CHEAP_HASH = {"HASH_METHOD": "sha512crypt", "HASH_COST": 1000}
GROUPED = dict(CHEAP_HASH, GROUP_COMMIT="on")


def batches(stack):
    """(shared transactions, write requests in them) this pool has run."""
    return group_commit_batches(scrape(stack))


def create(stack, name=None):
    if name is None:
        return requests.get(stack.url("/create_user/"), timeout=60)
    return requests.post(stack.url("/create_user/"), timeout=60,
                         data={"username": name, "password": "pw"})


def at_once(n, fn):
    """fn(i) for i in range(n), all sent at once from n client threads."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def n_of(text):
    return int(text.rsplit(" ", 1)[1])


def test_a_taken_username_fails_alone_among_the_others(make_stack):
    """One worker of 32 threads, 64 creations at once, every fourth of them
    a name that is taken: those answer 409, the others 200 with exact,
    distinct counts, although they shared transactions with the 409s."""
    stack = make_stack(WORKERS=1, WORKER_THREADS=32, **GROUPED)
    assert create(stack, "taken").status_code == 200
    total = 64
    names = ["taken" if i % 4 == 0 else f"u{i}" for i in range(total)]
    answers = at_once(total, lambda i: create(stack, names[i]))
    for name, r in zip(names, answers):
        if name == "taken":
            assert (r.status_code, r.text) == (409, "username: already taken\n")
        else:
            assert r.status_code == 200, r.text
    fresh = [n_of(r.text) for name, r in zip(names, answers) if name != "taken"]
    assert sorted(fresh) == list(range(2, 2 + len(fresh)))
    assert stack.user_count() == 1 + len(fresh)
    count, requests_in = batches(stack)
    assert requests_in == 1 + total and count < requests_in


def test_an_io_error_at_commit_fails_the_batch_then_the_service_recovers(make_stack, tmp_path):
    """Every sync of the database fails (EIO) while 16 creations wait in one
    worker, 15 of them in one shared transaction: each answers 503, none of them is in the database
    (nor comes back when the last connection closes), the writer connection
    is replaced (opened before the broken one is closed), and once the disk
    works again the same worker creates users."""
    f = faults.Faults(tmp_path / "faults")
    stack = make_stack(WORKERS=1, WORKER_THREADS=16, DB_PATH=str(tmp_path / "db.sqlite3"),
                       **GROUPED, **f.env(tmp_path / "db.sqlite3"))
    (worker,) = stack.wait_for_workers(1)
    assert create(stack, "before").status_code == 200
    before = batches(stack)
    # The lock file held until all 16 are in the worker: the first leads
    # alone, the 15 that queued behind it share the next transaction.
    with f.on(faults.IO_SYNC), ThreadPoolExecutor(16) as clients, \
            HeldWriteLock(stack.db_path) as lock:
        sent = [clients.submit(create, stack, f"failed{i}") for i in range(16)]
        wait_for_writes_held(worker, 16)
        lock.release()
        answers = [r.result() for r in sent]
    assert [(r.status_code, r.text) for r in answers] == [(503, "database unavailable\n")] * 16
    assert [n - b for n, b in zip(batches(stack), before)] == [2, 16]
    log = stack.app_log()
    assert "create_user: commit: disk I/O error (SQLITE_IOERR_FSYNC, 1034)" in log, log
    assert "closing the database connection after: disk I/O error" in log
    assert [create(stack, f"after{i}").status_code for i in range(4)] == [200] * 4
    assert stack.worker_pids() == [worker]
    expected = {"before"} | {f"after{i}" for i in range(4)}
    assert users_in(stack.db_path) == expected
    stack.stop()  # the last connection's checkpoint brings no failed user back
    assert users_in(stack.db_path) == expected


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=lambda s: s.name)
def test_a_stop_finishes_the_writes_held_in_the_queue(make_stack, sig):
    """Three writes in flight in one worker of four threads: the one that
    leads waits on the write lock file the test holds, the two behind it in
    the worker's queue.  The stop signal comes; the worker says three are
    in flight, answers all three once the lock is let go (1, then 2 and 3
    in one shared transaction), and exits."""
    s = make_stack(WORKERS=1, WORKER_THREADS=4, SQLITE_BUSY_TIMEOUT_MS=60000, **GROUPED)
    (worker,) = s.wait_for_workers(1)
    with ThreadPoolExecutor(3) as clients, HeldWriteLock(s.db_path) as lock:
        writes = [clients.submit(s.get, "/create_user/") for _ in range(3)]
        wait_for_writes_held(worker, 3)
        assert lock.waiters() == [worker]  # the leader alone queues on the file
        os.kill(worker, sig)
        assert wait_for(lambda: stop_requested(s.app_log(), worker),
                        what="the worker's stop request") == (sig.name, 3)
        # The idle thread is gone; the three that hold a write are not.
        wait_for(lambda: len(os.listdir(f"/proc/{worker}/task")) == 4,
                 what="the idle thread's exit")
        assert not any(w.done() for w in writes)
        assert stopped_after(s.app_log(), worker) is None
        lock.release()
        answers = sorted(w.result().text for w in writes)
    assert answers == [f"User created, num users: {n}" for n in (1, 2, 3)]
    wait_for(lambda: stopped_after(s.app_log(), worker), what="the worker's stop")
    wait_for(lambda: not os.path.exists(f"/proc/{worker}"), what="the worker's exit")
    (new,) = s.wait_for_workers(1)
    assert new != worker
    assert s.get("/create_user/").text == "User created, num users: 4"
    assert s.user_count() == 4


def test_the_matrix_writes_share_transactions(make_stack):
    """The matrix's write endpoints go through the queue too: 40 writes at
    once, each row written once, in transactions fewer than the writes."""
    s = make_stack(WORKERS=1, WORKER_THREADS=16, **GROUPED)
    form = {"name": "n", "campaign": "c", "voice": "v", "recognize": "r", "inside": "1.5",
            "growth": "g", "side": "2", "yard": "y", "discussion": "d"}

    def one(i):
        return requests.post(s.url(WRITES[i % len(WRITES)]), data=form, timeout=60,
                             headers={"Accept": "application/json"})
    answers = at_once(40, one)
    assert [r.status_code for r in answers] == [200] * 40, [r.text for r in answers][:3]
    ids = sorted(r.json()["row_id"] for r in answers)
    assert ids == list(range(1, 41))
    assert s.query("SELECT count(*) FROM basic_model_row") == [(40,)]
    count, requests_in = batches(s)
    assert requests_in == 40 and count < 40
