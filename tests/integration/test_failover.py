"""The short version of `make faults` (tests/failover/scenarios.py,
docs/postgresql.md "Failover and network faults"): under load through nginx
and two app pools, a PostgreSQL primary with a synchronous standby is
killed with kill -9 and the standby promoted; and one connection between an
app host and the database hangs at the worst moment of a transaction, its
COMMIT reaching the server and the answer never coming back.

Judged by the checker (tests/harness/acks.py): every acknowledged user is
in the database exactly once, no N is answered twice, every user the
database holds without a 2xx is explained by an answer that said its
outcome was unknown, and no answer came later than the deadline.  Figures
(throughput, time without a 2xx) are printed, not judged.
"""

import os
import subprocess

import pytest

from tests.failover import scenarios
from tests.harness.netfaults import COMMENT, clear_rules

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="iptables and the postgres user need root")


def iptables_rules():
    """Our rules only (each carries COMMENT): a dockerd started or stopped by
    someone else meanwhile changes its own chains, which is not ours to judge."""
    out = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return [line for line in out.splitlines() if COMMENT in line]


@pytest.fixture(autouse=True)
def iptables_restored():
    """The rules as they were, whatever the test did or however it ended."""
    before = iptables_rules()
    try:
        yield
    finally:
        # Read before clearing: a rule of ours left behind fails the test.
        after = iptables_rules()
        clear_rules()
    assert after == before, "iptables rules left behind"


# The throughput ratio is printed, not judged: a short window keeps the
# test short (make faults measures it over 10 s).
SHORT_WINDOW_S = 2.0


def judged(name, tmp_path):
    row = scenarios.run(name, tmp_path, window_s=SHORT_WINDOW_S)
    v = row.verdict
    print(f"\n{scenarios.HEADER}\n{scenarios.table_line(row)}\nanswers: {dict(v.statuses)}")
    assert v.acknowledged > 0
    assert v.failures(scenarios.DEADLINE_S) == []
    # Nothing but 2xx, 503 (nothing written) and the unknown outcomes.
    assert set(v.statuses) <= {200, 503, 502, 504, None}, v.statuses
    return row


def test_kill_9_of_the_primary_then_promotion(tmp_path):
    row = judged("kill-primary", tmp_path)
    # The workers found the new primary by themselves: no restart, no new setting.
    assert row.back_after_s is not None, "no 2xx after the promotion"
    assert row.verdict.statuses[503] > 0, "no 503 while there was no primary"


def test_a_commit_whose_answer_never_comes(tmp_path):
    row = judged("hang-commit", tmp_path)
    # The COMMIT reached the server, its answer did not reach the worker: the
    # requests of its batch were answered 504 (outcome unknown), never 2xx,
    # at the deadline, and the user is in the database (explained by it).
    assert row.verdict.statuses[504] >= 1
    assert row.verdict.unknown_in_db >= 1
    assert row.verdict.max_answer_s >= scenarios.DEADLINE_S - 2
