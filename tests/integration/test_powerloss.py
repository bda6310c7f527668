"""Simulated power losses under load: every write of the workers to the
database, its WAL and journal is recorded with the start and end of each
sync, and each request with the position of its answer
(tests/powerloss/recorder.c, LD_PRELOAD); the pool is killed mid-load, and
tests/powerloss/replay.py rebuilds what a disk could hold after losing
power at every sync of the run (just before it, just after it) and at
random points between them, with unsynced writes lost, kept or torn at
512-byte sectors.  Each state is reopened with SQLite: integrity_check, and
every user answered 2xx before the crash point present.

The test has teeth: NORMAL (the WAL synced only at checkpoints) must lose
acknowledged users but never those a checkpoint synced, and OFF must leave
corrupt files; the tuned default (WAL + FULL) must lose nothing in any
state.  `make powerloss` runs the same checks ten times longer
(tests/powerloss/campaign.py)."""

import pytest

from tests.powerloss.campaign import report, run_setting

# Users answered 2xx before the power cut, and the least number of crash
# states checked.  The default's run is small enough that every one of its
# syncs (two crash points each: about two per user) makes a state, with a
# third as many between them.
SIZES = {"default": (500, 1000), "normal": (1000, 1000), "off": (1000, 500)}


@pytest.mark.parametrize("name", ["default", "normal", "off"])
def test_power_loss(tmp_path, name):
    users, states = SIZES[name]
    outcome = run_setting(tmp_path, name, users, states)
    print("\n" + "\n".join(report(outcome)))
    assert outcome.summary.states >= states
    assert outcome.summary.users >= users
    assert not outcome.problems, "; ".join(outcome.problems)
