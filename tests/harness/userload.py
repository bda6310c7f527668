"""Concurrent user creation against a running stack, recording each answer:
for the durability tests (power loss, backup, restore, crashes), which check
every acknowledged user against a database afterwards."""

import threading
import time

import requests


class UserLoad:
    """clients threads POSTing /create_user/ with names prefix<client>x<n>
    until stop() (or seconds, as a bound), each answer recorded as
    (name, status, sent, answered) with time.monotonic() times.  A request
    that got no answer is recorded with status 0.  A client thread that
    fails (an answer a subclass's ask() finds wrong) stops, and stop()
    raises what it raised: a client's error never goes unseen."""

    REQUEST_TIMEOUT_S = 30

    def __init__(self, stack, prefix, clients=4, seconds=30):
        self.stack, self.prefix = stack, prefix
        self.answers = []
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._end = time.monotonic() + seconds
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True)
                         for n in range(clients)]

    def start(self):
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.REQUEST_TIMEOUT_S + 30)
        self.stopped = time.monotonic()
        if self.errors:
            raise self.errors[0]

    def _client(self, n):
        session = requests.Session()
        i = 0
        try:
            while not self._stop.is_set() and time.monotonic() < self._end:
                answer = self.ask(session, f"{self.prefix}{n}x{i}")
                i += 1
                with self._lock:
                    self.answers.append(answer)
        except Exception as e:  # noqa: BLE001 (handed to stop(), which raises it)
            with self._lock:
                self.errors.append(e)

    def ask(self, session, name):
        """One creation of name; its answer as recorded."""
        sent = time.monotonic()
        try:
            r = session.post(self.stack.url("/create_user/"), timeout=self.REQUEST_TIMEOUT_S,
                             data={"username": name, "password": "pw-" + name})
            status = r.status_code
        except requests.RequestException:
            status = 0
        return (name, status, sent, time.monotonic())

    def acked(self, sent_after=None, answered_before=None):
        """Names answered 2xx, optionally only for requests sent after a time
        or answered before one."""
        with self._lock:
            return {name for name, status, sent, answered in self.answers
                    if 200 <= status < 300
                    and (sent_after is None or sent > sent_after)
                    and (answered_before is None or answered < answered_before)}

    def all_names(self):
        with self._lock:
            return {a[0] for a in self.answers}

    def wait_for(self, count, timeout=30):
        """Waits until count more users have been acknowledged."""
        target = len(self.acked()) + count
        deadline = time.monotonic() + timeout
        while len(self.acked()) < target:
            assert time.monotonic() < deadline, f"fewer than {count} users acknowledged in {timeout}s"
            time.sleep(0.02)
