"""A request provably in flight, or provably queued, as the kernel shows it,
so that a stop or a resize can be tested on an event rather than on a sleep:

- in flight: the test holds the service's write lock file (DB_PATH-writelock,
  WRITE_LOCK_WAIT=flock, the default); a worker that has a request which
  writes blocks in flock() on it, and /proc/locks lists that worker;
- queued: a connection no worker has accepted yet counts in the listen
  queue of its unix socket (ss -xl shows it as Recv-Q);
- told to stop: a worker's main thread takes its stop signals (its serving
  threads never see them) and logs "stop requested by SIG...: N in flight"
  at once, then waits for its threads to answer what they hold; it logs
  "stopping after N requests" once they have.
"""

import fcntl
import os
import re
import subprocess

from tests.harness.locks import flock_waiters
from tests.harness.waiting import wait_for


class HeldWriteLock:
    """Holds the write lock file of db_path from __enter__ to release() (or
    __exit__): every request that writes blocks before its BEGIN. The worker
    creates the file when it opens the database: serve one request first."""

    def __init__(self, db_path):
        self.path = f"{db_path}-writelock"
        self.fd = None

    def __enter__(self):
        # Read-only is enough for flock(); no O_CREAT: a file made here would
        # be root's, which a worker running as another user could not open.
        self.fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def waiters(self):
        """The pids blocked on the lock now."""
        return flock_waiters(self.path)

    def wait_for_waiter(self, timeout=30):
        """The one worker blocked on the lock, once there is one: the worker
        that has the request in flight."""
        waiters = wait_for(self.waiters, timeout, "a worker blocked on the write lock")
        assert len(waiters) == 1, f"expected one worker blocked on the lock, have {waiters}"
        return waiters[0]

    def wait_for_waiters(self, n, timeout=30):
        """The pids of the n requests blocked on the lock, once all n are
        (each serving thread waits on its own connection's lock file, so a
        worker with k requests in flight is listed k times), sorted."""
        def all_blocked():
            pids = self.waiters()
            return sorted(pids) if len(pids) == n else None
        return wait_for(all_blocked, timeout, f"{n} requests blocked on the write lock")

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock too
            self.fd = None


def accept_queue(socket_path):
    """Connections waiting in the listen queue of the unix socket bound at
    socket_path, or None when no socket listens there (ss -xlH: Netid State
    Recv-Q Send-Q Local ...; Recv-Q of a listening socket is its queue)."""
    out = subprocess.run(["ss", "-xlH"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] == str(socket_path):
            return int(fields[2])
    return None


def stop_requested(log_text, pid):
    """(signal name, requests in flight then) of worker pid's "stop
    requested by SIG...: N in flight" line in log_text (its main thread
    says so as it takes a stop signal), or None when it has not said it."""
    m = re.search(rf"\[{pid}\]: \w+: stop requested by (SIG\w+): (\d+) in flight", log_text)
    return (m.group(1), int(m.group(2))) if m else None


def stopped_after(log_text, pid):
    """The N of worker pid's "stopping after N requests" line in log_text
    (a worker says so once every serving thread has left its accept loop
    after a stop, having answered what it held), or None when it has not
    said it."""
    m = re.search(rf"\[{pid}\]: \w+: stopping after (\d+) requests", log_text)
    return int(m.group(1)) if m else None


def writes_held(pid):
    """How many serving threads of worker pid hold a write now: blocked on
    the write lock file (flock), or, with group commit, waiting on a futex
    in the worker's queue for the thread that is (an idle thread waits in
    epoll, the main thread in sigwaitinfo).  From /proc/PID/task/*/wchan."""
    held = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                where = f.read()
        except FileNotFoundError:  # the thread has just exited
            continue
        held += where.startswith("locks_lock") or where.startswith("futex")
    return held


def wait_for_writes_held(pid, n, timeout=30):
    """Waits until worker pid holds n writes (writes_held)."""
    return wait_for(lambda: writes_held(pid) == n, timeout, f"{n} writes held by worker {pid}")
