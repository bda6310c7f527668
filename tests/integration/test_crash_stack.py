"""The rest of the stack crashes under load: SIGKILL nginx, then SIGKILL
multiwatch (the whole pool's supervisor).  No worker may outlive it (they
get their stop signal from the kernel: PR_SET_PDEATHSIG), the stack starts
again in the same directory, the database is intact, every user
acknowledged with a 2xx is in it, and the service serves."""

import os
import signal
import subprocess
import time

import pytest

from tests.harness.userload import UserLoad

# A worker finishes the request in flight before it exits: at most the busy
# timeout (5 s) plus a hash; 15 s is the margin.
WORKERS_GONE_S = 15


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent, init, reaps it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # ProcessLookupError: the read met the process exiting (ESRCH), which
        # takes longer with several threads to end.
        return False


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


# The death signal is asked for by a worker's main thread, which lives as
# long as the worker: it must reach workers with several threads as well.
@pytest.mark.parametrize("threads", [1, 4], ids=lambda n: f"{n}-threads")
def test_sigkill_nginx_and_multiwatch_under_load(make_stack, threads):
    s = make_stack(WORKERS=3, WORKER_THREADS=threads, HASH_METHOD="sha512crypt", HASH_COST=1000)
    workers = s.wait_for_workers(3)
    nginx_workers = children(s.pid("nginx"))
    assert nginx_workers, "nginx has no worker processes"
    load = UserLoad(s, "crash").start()
    try:
        load.wait_for(100)
        os.kill(s.pid("nginx"), signal.SIGKILL)
        os.kill(s.pid("workers"), signal.SIGKILL)
        left = wait_gone(workers, WORKERS_GONE_S)
    finally:
        load.stop()
    assert not left, f"workers outlived multiwatch: {left}"
    acked = load.acked()
    s.stop()  # leaves nothing behind, and the pid files go
    # nginx's workers outlive a killed master (they still hold the port):
    # stop takes them down with the master's process group.
    assert not wait_gone(nginx_workers, WORKERS_GONE_S), "nginx workers outlived stop"
    s.start()
    in_db = {n for (n,) in s.query("SELECT username FROM auth_user")}
    assert s.query("PRAGMA integrity_check") == [("ok",)]
    assert acked <= in_db, f"acknowledged but lost: {sorted(acked - in_db)[:5]}"
    r = s.post("/create_user/", data={"username": "after", "password": "pw-after"})
    assert r.status_code == 200, r.text
    assert r.text.endswith(f"num users: {len(in_db) + 1}"), r.text
