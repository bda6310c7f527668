"""Waiting for an event rather than for a time: poll, with a bound that only
stops a broken run from hanging."""

import time


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
