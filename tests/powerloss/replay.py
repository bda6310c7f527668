"""Crash states of a recorded run, each reopened and checked with SQLite.

Crash points (a point P keeps the log's records below index P):
- at every sync: just before it started and just after it returned;
- at the end of the log;
- at random points in between: as many as make the states asked for, and
  at least a quarter as many as there are sync points.
At each point one state is drawn (tests/powerloss/disk.py): one in four the
worst case (every unsynced write lost), the others random (each unsynced
write lost, kept or torn at 512-byte sectors).

Each state is written to a RAM-backed directory and opened with SQLite,
which runs its crash recovery; then PRAGMA integrity_check, and the users
present are compared with two lists (tests/powerloss/acks.py gives each
user the position of its 2xx answer):
- acknowledged: every user answered 2xx before the crash point;
- synced: every user answered 2xx before the start of a sync of the WAL
  that returned before the crash point (what synchronous=NORMAL keeps).

    PYTHONPATH=. /usr/bin/python3 tests/powerloss/replay.py LOG SNAPSHOT [STATES]

checks at least STATES states (1000 by default; every sync point is one)
of a log against the default's promise, and exits 1 if one fails it.
"""

import bisect
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
from collections import namedtuple
from pathlib import Path

from tests.powerloss.acks import created_users
from tests.powerloss.disk import Disk
from tests.powerloss.summary import Summary
from tests.powerloss.writelog import DB, OP_SYNC, OP_SYNC_DONE, WAL, read_log

# where: "sync" (before or after one), "between" or "end"; mode: "worst" or
# "random"; draw: the seed of a random state's draw.
State = namedtuple("State", "point where mode draw")
# acked, synced: how many users each list held; lost_*: how many of them
# were missing; lost_names: a few of the acknowledged ones, to show.
Result = namedtuple("Result", "state integrity acked lost_acked synced lost_synced lost_names")

CHUNK = 40  # states a worker checks in one go (one pass over the log each)


def sync_points(records):
    """The points just before each sync started and just after it returned."""
    points = set()
    for r in records:
        if r.op == OP_SYNC:
            points.add(r.index)
        elif r.op == OP_SYNC_DONE:
            points.add(r.index + 1)
    return points


def plan(records, states, seed=1):
    """The crash states of a run, sorted by crash point: one at every sync
    point and at the end, and at random points in between, at least a
    quarter of the whole and enough to make `states` in all."""
    rng = random.Random(seed)
    end = len(records)
    at_syncs = sorted(sync_points(records))
    between = max(states - 1 - len(at_syncs), len(at_syncs) // 3)
    points = ([(p, "sync") for p in at_syncs] + [(end, "end")] +
              [(rng.randint(0, end), "between") for _ in range(between)])
    return sorted(State(p, where, "worst" if where == "end" or rng.random() < 0.25
                        else "random", rng.getrandbits(64)) for p, where in points)


class Expectations:
    """Who must be present after a crash at a point."""

    def __init__(self, records):
        users = sorted(created_users(records).items(), key=lambda u: u[1])
        self.names = [name for name, _ in users]
        self.positions = [position for _, position in users]
        self.wal_synced, self.wal_sync_starts = self._wal_syncs(records)

    @staticmethod
    def _wal_syncs(records):
        """(index each WAL sync returned at, the latest start among those returned by then)."""
        started, done, latest = {}, [], []
        for r in records:
            if r.op == OP_SYNC and r.kind == WAL:
                started[r.tid] = r.index
            elif r.op == OP_SYNC_DONE and r.kind == WAL and r.tid in started:
                start = started.pop(r.tid)
                if r.offset == 0:
                    done.append(r.index)
                    latest.append(max(start, latest[-1] if latest else -1))
        return done, latest

    def acked(self, point):
        return self.names[:bisect.bisect_left(self.positions, point)]

    def synced(self, point):
        n = bisect.bisect_left(self.wal_synced, point)
        start = self.wal_sync_starts[n - 1] if n else 0
        return self.names[:bisect.bisect_left(self.positions, start)]


def open_state(files, directory):
    """Writes a state's files and reopens them: (integrity, usernames present)."""
    db = Path(directory) / "db.sqlite3"
    for suffix in ("", "-wal", "-journal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for suffix, content in files.items():
        Path(f"{db}{suffix}").write_bytes(content)
    try:
        con = sqlite3.connect(db, isolation_level=None)
        try:
            integrity = con.execute("PRAGMA integrity_check").fetchall()
            present = {n for (n,) in con.execute("SELECT username FROM auth_user")}
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return f"error: {e}", set()
    return ("ok" if integrity == [("ok",)] else str(integrity[:3])), present


def check(state, disk, expect, directory):
    files = (disk.worst_case() if state.mode == "worst"
             else disk.random_state(random.Random(state.draw)))
    integrity, present = open_state(files, directory)
    acked, synced = expect.acked(state.point), expect.synced(state.point)
    lost = [n for n in acked if n not in present]
    return Result(state, integrity, len(acked), len(lost), len(synced),
                  sum(1 for n in synced if n not in present), lost[:3])


# One run's data, set before the worker processes fork (they inherit it).
_run = {}


def _check_chunk(chunk):
    """In a worker process: the results of a chunk of states, sorted by
    point; the disk is kept from one chunk to the next when it can go on."""
    records, disk = _run["records"], _run.get("disk")
    if disk is None or disk.position > chunk[0].point:
        disk = _run["disk"] = Disk(_run["initial"])
    directory = Path(_run["tmp"]) / str(os.getpid())
    directory.mkdir(exist_ok=True)
    results = []
    for state in chunk:
        disk.advance(records, state.point)
        results.append(check(state, disk, _run["expect"], directory))
    return results


def ram_dir():
    """/dev/shm when it is there: the states are written and read in memory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def run(records, snapshot, states, seed=1, jobs=2, progress=None):
    """[Result] of the crash states of a run (at least `states`, see plan);
    progress(done, total, results) is called as chunks are checked."""
    plan_ = plan(records, states, seed)
    chunks = [plan_[i:i + CHUNK] for i in range(0, len(plan_), CHUNK)]
    results = []
    with tempfile.TemporaryDirectory(prefix="powerloss-", dir=ram_dir()) as tmp:
        _run.clear()
        _run.update(records=records, initial={DB: Path(snapshot).read_bytes()},
                    expect=Expectations(records), tmp=tmp)
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for chunk_results in pool.imap(_check_chunk, chunks):
                results.extend(chunk_results)
                if progress:
                    progress(len(results), len(plan_), results)
        _run.clear()
    return results


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    results = run(read_log(argv[1]), argv[2], int(argv[3]) if len(argv) == 4 else 1000)
    summary = Summary(results)
    print(summary.text())
    # The default's promise: intact, and every 2xx kept.
    return 1 if summary.integrity_failed or summary.lost_acked_states else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
