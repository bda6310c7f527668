"""Who waits for a lock: the kernel's own list (/proc/locks), so that a test
can act on an event ("this worker is blocked on the write lock file now")
rather than on a sleep."""

import os
import time


def flock_waiters(path):
    """The pids blocked on an flock of path: /proc/locks lists each blocked
    request as "N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"."""
    inode = os.stat(path).st_ino
    pids = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 7 and fields[1] == "->" and fields[2] == "FLOCK":
                if int(fields[6].rsplit(":", 1)[1]) == inode:
                    pids.append(int(fields[5]))
    return pids


def wait_for(predicate, timeout=30, what="the event"):
    """Polls predicate every 10 ms until it returns something true; the timeout
    only stops a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
