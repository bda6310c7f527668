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

import random

import pytest

from tests.powerloss.campaign import report, run_setting
from tests.powerloss.disk import Disk
from tests.powerloss.writelog import DB, OP_SYNC, OP_SYNC_DONE, OP_WRITE, Record

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


def test_model_keeps_synced_writes_and_tears_the_others_at_sectors():
    """The disk model on a hand-made log: a write whose sync returned is
    always there; a write whose sync had only started, and one never
    synced, are each lost, kept or torn, and a torn one is old and new
    content split at the file's 512-byte sector boundaries, never inside."""
    old = b"o" * 4096
    log = [Record(0, 1, 1, 3, OP_WRITE, DB, 0, b"s" * 100),
           Record(1, 1, 1, 3, OP_SYNC, DB, 0, b""), Record(2, 1, 1, 3, OP_SYNC_DONE, DB, 0, b""),
           Record(3, 1, 1, 3, OP_WRITE, DB, 1024, b"f" * 1024),  # its sync never returns
           Record(4, 1, 1, 3, OP_SYNC, DB, 0, b""),
           Record(5, 2, 2, 3, OP_WRITE, DB, 2100, b"n" * 1500)]  # never synced
    # (start, end) of each write's part in one sector
    pieces = [(1024, 1536), (1536, 2048), (2100, 2560), (2560, 3072), (3072, 3584), (3584, 3600)]
    disk = Disk({DB: old})
    disk.advance(log, len(log))
    assert disk.worst_case()[""] == b"s" * 100 + old[100:]
    seen, torn = set(), 0
    for seed in range(300):
        content = bytes(disk.random_state(random.Random(seed))[""])
        assert content[:100] == b"s" * 100 and content[100:1024] == old[100:1024]
        kept = [content[a:b] != old[a:b] for a, b in pieces]
        for (a, b), new in zip(pieces, kept):
            assert len(set(content[a:b])) == 1, f"sector {a // 512} written in part"
            seen.add((a, new))
        torn += kept[:2] in ([True, False], [False, True]) or 0 < sum(kept[2:]) < 4
    assert seen == {(a, new) for a, _ in pieces for new in (True, False)}
    assert torn > 0, "no write was ever torn"
