"""Steps run `jobs` at a time, as if one after the other: each started in
the list's order (what it says as it starts comes out in that order), a step
that needs an earlier one finished (a run on the same database file) waiting
for it, the results returned in the list's order.  The first failure stops
the steps not started yet and is raised."""

import threading
from concurrent.futures import ThreadPoolExecutor


def run_in_order(steps, jobs, start, body, after=None):
    """For each step i (from 0): start(i, step), after step i - 1's start;
    then, once step after[i] has finished (when after names one),
    body(i, step).  The list of body's results."""
    after = after or {}
    started = [threading.Event() for _ in steps]
    finished = [threading.Event() for _ in steps]
    stop = threading.Event()

    def one(i, step):
        try:
            if i:
                started[i - 1].wait()
            if stop.is_set():
                return None
            start(i, step)
            started[i].set()
            if i in after:
                finished[after[i]].wait()
            return body(i, step)
        except BaseException:
            stop.set()
            raise
        finally:
            started[i].set()
            finished[i].set()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, i, step) for i, step in enumerate(steps)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            stop.set()
            pool.shutdown(cancel_futures=True)
            raise
