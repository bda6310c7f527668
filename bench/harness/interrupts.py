"""Ctrl-C in the tools (make demo, make compare): SIGINT, SIGTERM and SIGHUP
raise Interrupted wherever the tool is, so that it stops the load and the
server in progress, writes no table and exits 130.

Two kinds of block change that:
- held(): a bounded step that must not stop half-way (a server's start or
  stop: a stack.sh start cut short could leave a process without its pid
  file); a signal meanwhile is raised when the step has finished;
- ignored(): the clean-up after an interrupt, which a second Ctrl-C must
  not cut short either; a signal meanwhile is only acknowledged.
"""

import contextlib
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# 130: the shell's status for a command stopped by SIGINT.
EXIT_STATUS = 130


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP."""


_depth = 0        # held() blocks open
_pending = None   # the signal that came during them


def _on_signal(signum, _frame):
    global _pending
    name = signal.Signals(signum).name
    if _depth:
        if _pending is None:
            print("\ninterrupted: waiting for the current step to finish, then stopping",
                  flush=True)
        _pending = name
        return
    raise Interrupted(name)


def catch():
    """From now on, the signals raise Interrupted (outside the blocks above)."""
    for s in SIGNALS:
        signal.signal(s, _on_signal)


@contextlib.contextmanager
def held():
    """A step that finishes whatever signal comes; Interrupted after it."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            name, _pending = _pending, None
            raise Interrupted(name)  # the interrupt wins over the step's own error


@contextlib.contextmanager
def ignored(message="stopping: please wait"):
    """A clean-up that a signal does not stop: it only says message."""
    previous = {s: signal.signal(s, lambda *_: print(message, flush=True)) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
