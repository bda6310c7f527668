"""WORKER_THREADS: several serving threads in one worker process, each with its
own connection, answering at once; a stop that finishes what every thread
holds; /metrics counting exactly what the threads of the pool served."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.inflight import HeldWriteLock, accept_queue, stop_requested, stopped_after
from tests.harness.metrics import requests_total, scrape
from tests.harness.waiting import wait_for

# A write waits for the test's lock rather than the 5 s busy timeout.  Each
# thread writes on its own connection here, each waiting on the lock file:
# group commit off (test_group_commit.py holds writes with it on).
HELD = {"SQLITE_BUSY_TIMEOUT_MS": 60000, "HASH_METHOD": "sha512crypt", "HASH_COST": 1000,
        "GROUP_COMMIT": "off"}


def threads_of(pid):
    """The threads of process pid: its serving threads and its main thread."""
    return len(os.listdir(f"/proc/{pid}/task"))


def socket_of(stack):
    """The unix socket the pool listens on (fcgi.sock links to it)."""
    return stack.run_dir / os.readlink(stack.run_dir / "fcgi.sock")


def test_threads_of_one_worker_answer_beside_writes_held_in_flight(make_stack):
    """One worker, four threads: three writes provably in flight (/proc/locks
    lists the worker three times, blocked on the write lock file the test
    holds), and the fourth thread answers reads meanwhile."""
    s = make_stack(WORKERS=1, WORKER_THREADS=4, **HELD)
    (worker,) = s.wait_for_workers(1)
    assert threads_of(worker) == 5
    with ThreadPoolExecutor(3) as clients, HeldWriteLock(s.db_path) as lock:
        writes = [clients.submit(s.get, "/create_user/") for _ in range(3)]
        assert lock.wait_for_waiters(3) == [worker] * 3
        assert s.get("/healthz").text == "ok\n"
        assert s.get("/users/count").text == "0\n"
        assert s.get("/users/", headers={"Accept": "application/json"}).json()["count"] == 0
        assert not any(w.done() for w in writes)
        lock.release()
        answers = sorted(w.result().text for w in writes)
    assert answers == [f"User created, num users: {n}" for n in (1, 2, 3)]
    assert s.user_count() == 3


def test_one_thread_answers_nothing_beside_a_write_held_in_flight(make_stack):
    """The same with WORKER_THREADS=1: the worker's one thread holds the
    write, and a read waits in the socket's listen queue until it is done."""
    s = make_stack(WORKERS=1, WORKER_THREADS=1, **HELD)
    (worker,) = s.wait_for_workers(1)
    assert threads_of(worker) == 2
    with ThreadPoolExecutor(2) as clients, HeldWriteLock(s.db_path) as lock:
        write = clients.submit(s.get, "/create_user/")
        assert lock.wait_for_waiter() == worker
        read = clients.submit(s.get, "/healthz")
        wait_for(lambda: accept_queue(socket_of(s)) == 1, what="the read queued on the socket")
        assert not read.done() and not write.done()
        lock.release()
        assert write.result().text == "User created, num users: 1"
        assert read.result().text == "ok\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=lambda s: s.name)
def test_a_stop_finishes_the_request_in_flight_on_every_thread(make_stack, sig):
    """Three threads of one worker each hold a write when the stop signal
    comes: the idle thread stops, the worker says it has three in flight,
    answers all three once the test lets the lock go, then exits, having
    served exactly what it was counted for."""
    s = make_stack(WORKERS=1, WORKER_THREADS=4, **HELD)
    (worker,) = s.wait_for_workers(1)
    served_before = requests_total(scrape(s)) + 1  # this scrape too, counted after it answers
    with ThreadPoolExecutor(3) as clients, HeldWriteLock(s.db_path) as lock:
        writes = [clients.submit(s.get, "/create_user/") for _ in range(3)]
        assert lock.wait_for_waiters(3) == [worker] * 3
        os.kill(worker, sig)
        assert wait_for(lambda: stop_requested(s.app_log(), worker),
                        what="the worker's stop request") == (sig.name, 3)
        # The idle thread is gone; the three that hold a write are not.
        wait_for(lambda: threads_of(worker) == 4, what="the idle thread's exit")
        assert not any(w.done() for w in writes)
        assert stopped_after(s.app_log(), worker) is None
        lock.release()
        answers = sorted(w.result().text for w in writes)
    assert answers == [f"User created, num users: {n}" for n in (1, 2, 3)]
    assert wait_for(lambda: stopped_after(s.app_log(), worker),
                    what="the worker's stop") == served_before + 3
    wait_for(lambda: not os.path.exists(f"/proc/{worker}"), what="the worker's exit")
    # multiwatch starts another in its place, which serves.
    (new,) = s.wait_for_workers(1)
    assert new != worker
    assert s.get("/create_user/").text == "User created, num users: 4"


def test_metrics_count_exactly_what_the_threads_served(make_stack):
    """Two workers of four threads each, 16 clients at once: every request
    is counted once in its worker's slot, whichever of its threads answered
    (the counters are shared by the threads of a worker and added to
    atomically)."""
    s = make_stack(WORKERS=2, WORKER_THREADS=4, HASH_METHOD="sha512crypt", HASH_COST=1000)
    pids = s.wait_for_workers(2)
    assert [threads_of(p) for p in pids] == [5, 5]
    before = scrape(s)
    paths = ["/create_user/"] * 300 + ["/users/count"] * 300 + ["/healthz"] * 200
    with ThreadPoolExecutor(16) as clients:
        statuses = list(clients.map(lambda p: s.get(p).status_code, paths))
    assert statuses == [200] * len(paths)
    after = scrape(s)

    def served(route):
        key = ("sqlite_fcgi_requests_total", (("route", route), ("status", "200")))
        return after.get(key, 0) - before.get(key, 0)

    assert [served(r) for r in ("/create_user/", "/users/count", "/healthz")] == [300, 300, 200]
    # The scrape before is counted in the one after.
    assert served("/metrics") == 1
    def added(name):
        key = (f"sqlite_fcgi_{name}", ())
        return after.get(key, 0) - before.get(key, 0)

    for name in ("create_user_seconds", "password_hash_seconds"):
        assert added(f"{name}_count") == 300, name
    # Group commit (on by default): one BEGIN for each shared transaction,
    # which held the 300 writes between them.
    assert added("group_commit_batch_size_sum") == 300
    assert added("write_lock_wait_seconds_count") == added("group_commit_batch_size_count")
    assert s.user_count() == 300


def test_idle_threads_take_connections_in_turn(make_stack):
    """One request at a time reaches the idle threads of every worker in turn
    (a thread that has just answered goes to the back of the listening
    socket's queue of waiters), as single-threaded workers blocked in
    accept() took them: not all of them the first thread that waited."""
    s = make_stack(WORKERS=2, WORKER_THREADS=2)
    pids = s.wait_for_workers(2)
    for _ in range(40):
        assert s.get("/healthz").status_code == 200
    s.stop()
    served = [stopped_after(s.app_log(), p) for p in pids]
    # 20 each, give or take the start's /healthz; all 40 on one without the turns.
    assert all(n >= 15 for n in served), served
