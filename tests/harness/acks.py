"""A load that records every answer, and a checker that holds the database to
them (docs/postgresql.md, "Failover and network faults").

Each client thread POSTs /create_user/ with a username of its own making
(JSON asked for, so that a 2xx names the user and its N) and records when it
asked, when it was answered, the status and the answer.  After the run,
`check()` compares the records with the usernames the database holds:

- acknowledged: a 2xx; every one must be in the database (else: lost);
- duplicated: a username the database holds twice, or an N answered twice;
- unknown outcome: answers that do not say whether the user exists (504 from
  a COMMIT not confirmed, 502 from nginx when the pool's connection broke,
  no answer at all); each may or may not be in the database;
- unacknowledged users in the database: each must be explained by such an
  answer; a user created behind a 503 (which promises nothing was written)
  is counted as unexplained;
- the worst answer time, against the deadline.
"""

import time
from collections import Counter
from dataclasses import dataclass

import requests

from tests.harness.userload import UserLoad

# Answers that leave the outcome open (504: a COMMIT not confirmed; 502:
# nginx lost the pool's connection mid-request; None: no answer).
UNKNOWN = (502, 504, None)


@dataclass
class Record:
    username: str
    asked: float
    answered: float
    status: object          # int, or None when no answer came
    num_users: object = None


class Load(UserLoad):
    """threads clients creating users through stack (its nginx) until stop(),
    each answer a Record (JSON asked for: a 2xx names the user and its N)."""

    REQUEST_TIMEOUT_S = 120

    def __init__(self, stack, prefix, threads=6):
        # No bound but stop(): a scenario's length depends on its fault.
        super().__init__(stack, prefix, clients=threads, seconds=float("inf"))

    @property
    def records(self):
        return self.answers

    def ask(self, session, name):
        asked = time.monotonic()
        try:
            r = session.post(self.stack.url("/create_user/"),
                             json={"username": name, "password": "pw-" + name},
                             headers={"Accept": "application/json"},
                             timeout=self.REQUEST_TIMEOUT_S)
        except requests.RequestException:
            session.close()
            return Record(name, asked, time.monotonic(), None)
        answered = time.monotonic()
        if r.status_code != 200:
            return Record(name, asked, answered, r.status_code)
        if r.json().get("username") != name:
            raise AssertionError(f"asked for {name}, answered {r.text}")
        return Record(name, asked, answered, 200, r.json().get("num_users"))

    def acked_between(self, start, end):
        """2xx answers given in [start, end)."""
        return sum(1 for r in self.records if r.status == 200 and start <= r.answered < end)


@dataclass
class Verdict:
    requests: int
    acknowledged: int
    lost: list
    duplicated: list
    unknown: int
    unknown_in_db: int
    unexplained: list         # in the database behind an answer that said "not written"
    max_answer_s: float
    statuses: Counter

    def failures(self, deadline_s=None):
        """What breaks the guarantees, one line each; [] when nothing does."""
        found = []
        if self.lost:
            found.append(f"acknowledged, not in the database: {self.lost[:10]}")
        if self.duplicated:
            found.append(f"duplicated: {self.duplicated[:10]}")
        if self.unexplained:
            found.append(f"in the database behind a 'not written' answer: {self.unexplained[:10]}")
        if deadline_s is not None and self.max_answer_s > deadline_s:
            found.append(f"an answer took {self.max_answer_s:.2f} s, past the deadline of"
                         f" {deadline_s} s")
        return found


def check(records, db_usernames):
    """db_usernames: [(username, how many rows)] as the database has them."""
    in_db = dict(db_usernames)
    ours = {r.username: r for r in records}
    acked = [r for r in records if r.status == 200]
    ns = Counter(r.num_users for r in acked)
    duplicated = [u for u, n in in_db.items() if n > 1] + \
        [f"N={n} answered {c} times" for n, c in ns.items() if c > 1]
    unknown = [r for r in records if r.status in UNKNOWN]
    unexplained = [r.username for r in records
                   if r.status != 200 and r.status not in UNKNOWN and r.username in in_db]
    strangers = [u for u in in_db if u not in ours]
    return Verdict(
        requests=len(records), acknowledged=len(acked),
        lost=[r.username for r in acked if r.username not in in_db],
        duplicated=duplicated, unknown=len(unknown),
        unknown_in_db=sum(1 for r in unknown if r.username in in_db),
        unexplained=unexplained + [f"{u}: never asked for" for u in strangers],
        max_answer_s=max((r.answered - r.asked for r in records), default=0.0),
        statuses=Counter(r.status for r in records))


def longest_without_2xx(records, start, end):
    """The longest stretch of [start, end] in which no 2xx was answered, in seconds."""
    times = sorted(r.answered for r in records if r.status == 200 and start <= r.answered <= end)
    edges = [start] + times + [end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def first_2xx_after(records, t):
    """Seconds from t to the first 2xx answered after t, or None."""
    later = [r.answered for r in records if r.status == 200 and r.answered > t]
    return min(later) - t if later else None
