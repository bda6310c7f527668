"""Changing the worker count under load (deploy/stack.sh resize N): a new pool
on a socket of its own, the stable socket symlink switched to it, the old pool
drained and stopped. Not one request may fail."""

import os
import subprocess
import threading

import pytest
import requests

from tests.harness.waiting import wait_for
from tests.harness.stack import STACK, Stack

LOAD_THREADS = 12


def resize(stack, n):
    result = subprocess.run([str(STACK), "resize", str(n)], env=stack.env,
                            capture_output=True, text=True, timeout=120)
    return result


class Load:
    """Threads doing GET /create_user/ back to back until stopped."""

    def __init__(self, stack, threads):
        self.url = stack.url("/create_user/")
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self):
        with requests.Session() as session:
            while not self.done.is_set():
                try:
                    r = session.get(self.url, timeout=30)
                    good = r.status_code == 200 and r.text.startswith("User created")
                    outcome = None if good else f"{r.status_code} {r.text.strip()}"
                except requests.RequestException as e:
                    outcome = repr(e)
                with self.lock:
                    if outcome is None:
                        self.ok += 1
                    else:
                        self.failures.append(outcome)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for t in self.threads:
            t.join(60)


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


def served(load, more):
    """Waits until the load has had `more` further answers (the timeout only
    stops a broken run from hanging)."""
    target = load.ok + more
    wait_for(lambda: load.ok >= target or load.failures, timeout=120,
             what=f"{more} more answers")


@pytest.mark.parametrize("hash_name", sorted(HASHES))
def test_resize_under_load_fails_no_request(tmp_path, hash_name):
    settings = dict(HASHES[hash_name])
    s = Stack(tmp_path / "resize", WORKERS=3, **settings)
    s.start()
    seen = set()
    try:
        seen |= pool_pids(s) | {s.pid("nginx")}
        first = s.wait_for_workers(3)
        sockets = []
        with Load(s, LOAD_THREADS) as load:
            served(load, PER_POOL)
            for n in (1, 4):
                seen |= pool_pids(s)
                result = resize(s, n)
                assert result.returncode == 0, result.stderr
                seen |= pool_pids(s)
                pids = s.wait_for_workers(n)
                assert not set(pids) & set(first)
                sockets.append(os.readlink(s.run_dir / "fcgi.sock"))
                served(load, PER_POOL)  # the new pool answers
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
        print(f"{hash_name}: resize 3 -> 1 -> 4 under {LOAD_THREADS} threads: {load.ok} requests, "
              f"0 failed, {s.user_count()} users")
    finally:
        s.stop()
    for p in seen:
        assert not os.path.exists(f"/proc/{p}"), f"pid {p} still running"
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(s.run_dir) not in ps
    assert not list(s.run_dir.glob("*.pid"))
    assert not list(s.run_dir.glob("fcgi*"))


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
