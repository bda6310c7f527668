"""Runs a command (deploy/local/stack.sh start, ...) so that the processes it leaves
running in the background (nginx, the pool's multiwatch) are reaped as soon
as they exit, and returns its exit status:

    python3 bench/harness/reaper.py COMMAND [ARG ...]

stack.sh's daemons are re-parented to init when it exits (the pool on the
unix socket at once: a command substitution's subshell starts it), and
`stack.sh stop` (like start, which watches for a pool that exits) waits
until they have left the process table (kill -0 fails), which is when init
reaps them.  An init that reaps
late (a container whose pid 1 looks for orphans every 2 s, or never) would
cost every stop seconds, or its whole timeout.  Here a process of ours
adopts them instead (a child subreaper, prctl(2) PR_SET_CHILD_SUBREAPER) and
reaps each at once; it exits when the last has been reaped.  The caller's
child only relays the command's status, so the caller (subprocess.run with
captured output) returns when the command has finished, as without this
wrapper.  Linux only."""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap(until=None):
    """Reaps every child that exits, until none is left, or until the child
    until has exited: returns its exit status (128 + N if killed by signal N).
    Orphans are adopted while the command runs too (the pool's subshell
    exits at once), so this waits for any child."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return None
        except InterruptedError:
            continue
        if pid == until:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def subreaper(argv, status_w):
    """The adopting process: runs argv, reports its status on status_w, lets
    go of the caller's stdout and stderr, then reaps what argv left behind."""
    try:
        adopt_orphans()
        proc = subprocess.Popen(argv)
        rc = reap(until=proc.pid)
        proc.returncode = rc  # reaped here: Popen must not wait for it
    except OSError as e:
        print(f"reaper: {argv[0]}: {e}", file=sys.stderr, flush=True)
        rc = 127
    os.write(status_w, str(rc).encode())
    os.close(status_w)
    # The caller reads our stdout and stderr to their end: close our copies.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # A Ctrl-C meant for the caller must not leave the daemons to init.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reap()


def main(argv):
    if not argv:
        print("usage: reaper.py COMMAND [ARG ...]", file=sys.stderr)
        return 2
    status_r, status_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        os.close(status_r)
        try:
            subreaper(argv, status_w)
        finally:
            os._exit(0)
    os.close(status_w)
    data = b""
    while chunk := os.read(status_r, 16):
        data += chunk
    if not data:
        print("reaper: the adopting process ended without a status", file=sys.stderr)
        return 1
    return int(data)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
