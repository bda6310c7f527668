"""Who waits for a lock: the kernel's own list (/proc/locks), so that a test
can act on an event ("this worker is blocked on the write lock file now")
rather than on a sleep."""

import os


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


def posix_locks(path):
    """The fcntl (POSIX) locks held on path, as (pid, READ or WRITE, first
    byte, last byte): "N: POSIX ADVISORY READ PID MAJ:MIN:INODE START END"."""
    inode = os.stat(path).st_ino
    held = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[1] == "POSIX":
                if int(fields[5].rsplit(":", 1)[1]) == inode:
                    end = fields[7]
                    held.append((int(fields[4]), fields[3], int(fields[6]),
                                 -1 if end == "EOF" else int(end)))
    return held


# SQLite's WAL index (the -shm file): a reader holds a read lock on one of
# the read marks, bytes 123 to 127 (WALINDEX_LOCK_OFFSET 120 + 3 + i), for
# as long as its read transaction is open.
WAL_READ_MARKS = range(123, 128)


def holds_wal_snapshot(db_path, pid):
    """Whether process pid has a read transaction open on db_path (WAL mode)."""
    return any(p == pid and kind == "READ" and start in WAL_READ_MARKS
               for p, kind, start, _ in posix_locks(f"{db_path}-shm"))
