"""Threads doing one GET back to back until stopped, counting the good
answers and recording every other one: load across a resize or a stop."""

import threading

import requests

from tests.harness.waiting import wait_for


class GetLoad:
    """threads threads GETting url back to back from __enter__ to __exit__.
    good(response) says whether an answer counts as served; any other
    answer, or a request that got none, goes to failures as a string."""

    def __init__(self, url, threads, good):
        self.url, self.good = url, good
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
                    outcome = None if self.good(r) else f"{r.status_code} {r.text.strip()}"
                except requests.RequestException as e:
                    outcome = repr(e)
                with self.lock:
                    if outcome is None:
                        self.ok += 1
                    else:
                        self.failures.append(outcome)

    def served(self, more, timeout=120):
        """Waits until `more` further answers were good (or one failed): counted,
        not timed; the timeout only stops a broken run from hanging."""
        target = self.ok + more
        wait_for(lambda: self.ok >= target or self.failures, timeout=timeout,
                 what=f"{more} more answers to {self.url}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for t in self.threads:
            t.join(60)
