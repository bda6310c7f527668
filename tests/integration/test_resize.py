"""Changing the worker count under load (deploy/local/stack.sh resize N): a new pool
on a socket of its own, the stable socket symlink switched to it, the old pool
drained and stopped. Not one request may fail."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.getload import GetLoad
from tests.harness.inflight import (HeldWriteLock, accept_queue, stop_requested, stopped_after,
                                     wait_for_writes_held)
from tests.harness.metrics import created_200, requests_total, scrape
from tests.harness.waiting import wait_for
from bench.harness.stack import STACK, Stack, reaped

LOAD_THREADS = 12


def resize(stack, n):
    return stack.run_script("resize", str(n), timeout=120)


def created(r):
    return r.status_code == 200 and r.text.startswith("User created")


def pool_pids(stack):
    """multiwatch of every pool on record, and its workers."""
    pids = set()
    for name in ("workers", "workers.new", "workers.old"):
        path = stack.run_dir / f"{name}.pid"
        if path.exists():
            pid = int(path.read_text())
            pids.add(pid)
            out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
            pids.update(int(p) for p in out.stdout.split())
    return pids


# sha512crypt with 1000 rounds (0.2 ms a hash): thousands of requests. yescrypt
# (60-75 ms): 12 clients on 3 workers keep connections queued on the old
# socket when it is switched, which only the drain saves (without it, nginx
# answers 502 for each of them as the old pool stops and resets them).
HASHES = {"sha512crypt": {"HASH_METHOD": "sha512crypt", "HASH_COST": 1000},
          "yescrypt": {"HASH_METHOD": "yescrypt"}}
# Each pool (before, between and after the resizes) answers this many
# requests before the test moves on: counted, not timed.
PER_POOL = 20


@pytest.mark.parametrize("threads", [1, 4], ids=lambda n: f"{n}-threads")
@pytest.mark.parametrize("hash_name", sorted(HASHES))
def test_resize_under_load_fails_no_request(tmp_path, hash_name, threads):
    settings = dict(HASHES[hash_name])
    s = Stack(tmp_path / "resize", WORKERS=3, WORKER_THREADS=threads, **settings)
    s.start()
    seen = set()
    try:
        seen |= pool_pids(s) | {s.pid("nginx")}
        first = s.wait_for_workers(3)
        sockets = []
        with GetLoad(s.url("/create_user/"), LOAD_THREADS, created) as load:
            load.served(PER_POOL)
            for n in (1, 4):
                seen |= pool_pids(s)
                result = resize(s, n)
                assert result.returncode == 0, result.stderr
                seen |= pool_pids(s)
                pids = s.wait_for_workers(n)
                assert not set(pids) & set(first)
                sockets.append(os.readlink(s.run_dir / "fcgi.sock"))
                load.served(PER_POOL)  # the new pool answers
        assert load.failures == [], load.failures[:10]
        assert load.ok >= 3 * PER_POOL
        assert s.user_count() == load.ok
        # Every request nginx logged was answered by a worker with 200.  nginx
        # writes a line once its answer has left: wait for the last ones.
        def statuses():
            return [line.split('" ')[1].split()[0] for line in s.access_log()
                    if '"GET /create_user/ ' in line]
        wait_for(lambda: len(statuses()) >= load.ok, 10, "nginx's last log lines")
        assert len(statuses()) == load.ok and set(statuses()) == {"200"}
        # One pool serves, the others are gone with their sockets.
        assert sockets == ["fcgi-2.sock", "fcgi-3.sock"]
        assert len(s.wait_for_workers(4)) == 4
        assert not (s.run_dir / "workers.old.pid").exists()
        assert not (s.run_dir / "workers.new.pid").exists()
        assert sorted(p.name for p in s.run_dir.glob("fcgi*.sock")) == ["fcgi-3.sock", "fcgi.sock"]
        print(f"{hash_name}, {threads} serving threads a worker: resize 3 -> 1 -> 4 under "
              f"{LOAD_THREADS} client threads: {load.ok} requests, "
              f"0 failed, {s.user_count()} users")
    finally:
        s.stop()
    for p in seen:
        assert not os.path.exists(f"/proc/{p}"), f"pid {p} still running"
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(s.run_dir) not in ps
    assert not list(s.run_dir.glob("*.pid"))
    assert not list(s.run_dir.glob("fcgi*"))


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


@pytest.mark.parametrize("threads", [1, 3], ids=lambda n: f"{n}-threads")
@pytest.mark.parametrize("queued", [False, True], ids=["in-flight", "in-flight-and-queued"])
def test_the_old_pool_answers_what_it_holds(make_stack, queued, threads):
    """The old pool of a resize holds a request provably in flight on each of
    its only worker's threads (group commit: the first blocked on the write
    lock file, which the test holds, the others queued behind it) and, with
    queued, one more provably waiting in its socket's listen queue (ss shows
    it there). The resize starts the new pool and switches the link. With a
    request queued, it then waits, the old pool untouched, until the queue
    is empty; with none, it stops the old pool at once, and multiwatch
    waits for the busy worker, which has taken its graceful signal and
    finishes what it holds. Once the test lets the lock
    go, the old pool answers what it holds with 200 and stops."""
    s = make_stack(WORKERS=1, WORKER_THREADS=threads, SQLITE_BUSY_TIMEOUT_MS=60000,
                   GROUP_COMMIT="on", HASH_METHOD="sha512crypt", HASH_COST=1000)
    link, old_sock = s.run_dir / "fcgi.sock", s.run_dir / "fcgi-1.sock"
    assert os.readlink(link) == old_sock.name
    old_pool = s.pid("workers")
    (old_worker,) = s.wait_for_workers(1)
    assert s.get("/create_user/").text == "User created, num users: 1"
    # The old worker has served these, and this scrape (counted after it answers).
    served_before = requests_total(scrape(s)) + 1
    held = threads + 1 if queued else threads
    resizing = None
    try:
        # The lock is let go before the clients are waited for, should a check fail.
        with ThreadPoolExecutor(held) as clients, HeldWriteLock(s.db_path) as lock:
            sent = [clients.submit(s.get, "/create_user/") for _ in range(threads)]
            # One on the lock file, the others queued behind it in the worker.
            wait_for_writes_held(old_worker, threads)
            assert lock.waiters() == [old_worker]
            if queued:
                sent.append(clients.submit(s.get, "/create_user/"))
                wait_for(lambda: accept_queue(old_sock) == 1,
                         what="a request queued on the old socket")
            resizing = subprocess.Popen(reaped([str(STACK), "resize", "2"]), env=s.env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            # stack.sh records the new pool in workers.pid once it is up and
            # the link points at it, right before it drains the old one.
            wait_for(lambda: resizing.poll() is not None or s.pid("workers") != old_pool,
                     timeout=60, what="the switch to the new pool")
            assert resizing.poll() is None, resizing.communicate()[0]
            assert s.pid("workers.old") == old_pool
            assert os.readlink(link) == "fcgi-2.sock"
            new_workers = s.wait_for_workers(2)
            # New requests reach the new pool, not the old socket.
            assert s.get("/healthz").status_code == 200
            if queued:
                # Untouched while its queue is not empty: no stop signal yet.
                assert accept_queue(old_sock) == 1
                assert stop_requested(s.app_log(), old_worker) is None
            else:
                # Drained (nothing queued) and told to stop: multiwatch has sent
                # its graceful signal, which the busy worker has taken.
                assert wait_for(lambda: stop_requested(s.app_log(), old_worker),
                                what="the old worker's stop request") == ("SIGUSR1", threads)
            # Either way the old pool is still there, its worker holding the
            # first request, and the resize waits for it.
            assert children(old_pool) == [old_worker]
            assert not any(r.done() for r in sent)
            assert resizing.poll() is None
            lock.release()
            answers = [r.result() for r in sent]
        out = resizing.communicate(timeout=120)[0]
        assert resizing.returncode == 0, out
    finally:
        if resizing is not None and resizing.poll() is None:
            try:
                resizing.communicate(timeout=120)
            finally:
                if resizing.poll() is None:
                    resizing.kill()
                    resizing.wait()
    assert sorted((r.status_code, r.text) for r in answers) == [
        (200, f"User created, num users: {n}") for n in range(2, 2 + held)]
    # Answered by the old pool: its worker counts exactly these as it stops,
    # and the new pool has created no one.
    assert wait_for(lambda: stopped_after(s.app_log(), old_worker),
                    what="the old worker's stop") == served_before + held
    assert created_200(scrape(s)) == 0
    assert s.user_count() == 1 + held
    for p in (old_pool, old_worker):
        assert not os.path.exists(f"/proc/{p}"), f"old pool's pid {p} still running"
    assert not old_sock.exists() and not (s.run_dir / "workers.old.pid").exists()
    assert s.worker_pids() == new_workers
    assert s.get("/create_user/").text == f"User created, num users: {2 + held}"


def test_bad_count_keeps_the_old_pool(make_stack):
    s = make_stack(WORKERS=2, HASH_METHOD="sha512crypt", HASH_COST=1000)
    before = s.wait_for_workers(2)
    result = resize(s, 0)
    assert result.returncode != 0
    assert "WORKERS=0" in result.stderr
    assert s.wait_for_workers(2) == before
    assert os.readlink(s.run_dir / "fcgi.sock") == "fcgi-1.sock"
    assert s.get("/create_user/").status_code == 200


def test_resize_needs_a_running_stack(tmp_path):
    s = Stack(tmp_path / "none")
    result = resize(s, 2)
    assert result.returncode != 0 and "not running" in result.stderr


def test_settings_of_the_start_carry_over(make_stack):
    """A resize changes the worker count alone, whatever its own environment says."""
    s = make_stack(WORKERS=2, HASH_METHOD="sha512crypt", HASH_COST=1000)
    s.env["HASH_METHOD"] = "bcrypt"
    result = resize(s, 1)
    assert result.returncode == 0, result.stderr
    s.wait_for_workers(1)
    assert s.get("/create_user/").status_code == 200
    (stored,) = s.query("SELECT password FROM auth_user")[0]
    assert stored.startswith("$6$rounds=1000$")
