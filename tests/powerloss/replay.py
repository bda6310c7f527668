"""Builds what a disk holds after a power loss, from the log of
tests/powerloss/recorder.c, and checks it with SQLite.

The model (the one ALICE and CrashMonkey use for a file system that keeps
no order between unsynced writes):
- a write or truncate of a file is durable once a later fsync/fdatasync of
  that same file (any descriptor, any process) has started;
- until then it may be lost, each one independently of the others;
- the creation of a file is durable at once (an empty file left behind is
  what SQLite must cope with anyway); an unlink is durable once the
  directory has been synced, and until then the file may come back with its
  durable content (SQLite syncs the directory only with synchronous=EXTRA).

crash_states() yields the worst case (every unsynced write lost, every
unsynced unlink undone) and then random subsets of the unsynced writes.

    /usr/bin/python3 tests/powerloss/replay.py LOG DB_SNAPSHOT ACKED_NAMES
"""

import random
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

RECORD = struct.Struct("<IIBBHIQ")
MAGIC = 0x31524C50
OP_WRITE, OP_TRUNCATE, OP_SYNC, OP_UNLINK, OP_CREATE, OP_UNSUPPORTED = range(1, 7)
KINDS = {1: "", 2: "-wal", 3: "-journal"}  # file name suffixes; 4 is the directory
DIR = 4


class LogError(Exception):
    pass


def read_log(path):
    """The records in order: (op, kind, offset, data)."""
    raw = Path(path).read_bytes()
    records, pos = [], 0
    while pos < len(raw):
        if pos + RECORD.size > len(raw):
            raise LogError(f"torn record at byte {pos}")
        magic, _pid, op, kind, _pad, length, offset = RECORD.unpack_from(raw, pos)
        if magic != MAGIC:
            raise LogError(f"bad record at byte {pos}")
        pos += RECORD.size
        data = raw[pos:pos + length]
        pos += length
        if op == OP_UNSUPPORTED:
            raise LogError(f"a call the model does not cover ({kind=}, {offset=:#x}):"
                           " see tests/powerloss/recorder.c")
        records.append((op, kind, offset, data))
    return records


class File:
    def __init__(self, content):
        self.durable = bytearray(content)
        self.pending = []  # (offset, data) writes, or (size, None) truncates


def apply(content, ops):
    out = bytearray(content)
    for offset, data in ops:
        if data is None:
            del out[offset:]
            out.extend(bytes(offset - len(out)))
        else:
            if offset > len(out):
                out.extend(bytes(offset - len(out)))
            out[offset:offset + len(data)] = data
    return out


def simulate(records, initial):
    """Replays the log; returns {kind: File or None} and {kind: File of an
    unlink not yet made durable}."""
    files = {k: (File(initial[k]) if initial.get(k) is not None else None) for k in KINDS}
    ghosts = {}
    for op, kind, offset, data in records:
        if kind == DIR:
            if op == OP_SYNC:
                ghosts.clear()
            continue
        f = files[kind]
        if op == OP_CREATE:
            if f is None:
                files[kind] = File(b"")
        elif op in (OP_WRITE, OP_TRUNCATE):
            if f is None:
                raise LogError(f"write to {KINDS[kind] or 'db'} that does not exist")
            f.pending.append((offset, data if op == OP_WRITE else None))
        elif op == OP_SYNC:
            if f is not None:
                f.durable = apply(f.durable, f.pending)
                f.pending = []
        elif op == OP_UNLINK:
            if f is not None:
                ghosts.setdefault(kind, f)
            files[kind] = None
    return files, ghosts


def crash_state(files, ghosts, rng):
    """{suffix: bytes} for one power loss; rng None is the worst case."""
    state = {}
    for kind, suffix in KINDS.items():
        f = files[kind]
        if kind in ghosts and (rng is None or rng.random() < 0.5):
            f = ghosts[kind]
        if f is None:
            continue
        kept = [] if rng is None else [op for op in f.pending if rng.random() < 0.5]
        state[suffix] = bytes(apply(f.durable, kept))
    return state


def crash_states(files, ghosts, random_cases, seed=1):
    yield "worst case", crash_state(files, ghosts, None)
    rng = random.Random(seed)
    for i in range(random_cases):
        yield f"random subset {i + 1}", crash_state(files, ghosts, rng)


def check_state(state, acked):
    """Reopens one crash state with SQLite: (integrity, lost acknowledged names)."""
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "db.sqlite3"
        for suffix, content in state.items():
            Path(str(db) + suffix).write_bytes(content)
        try:
            con = sqlite3.connect(db)
            try:
                integrity = con.execute("PRAGMA integrity_check").fetchall()
                present = {n for (n,) in con.execute("SELECT username FROM auth_user")}
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            return f"error: {e}", set(acked)
    ok = "ok" if integrity == [("ok",)] else str(integrity[:3])
    return ok, set(acked) - present


def run(log, snapshot, acked, random_cases=10):
    """[(case, integrity, lost names)] for the worst case and random subsets."""
    files, ghosts = simulate(read_log(log), {1: Path(snapshot).read_bytes()})
    return [(case, *check_state(state, acked))
            for case, state in crash_states(files, ghosts, random_cases)]


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    acked = set(Path(argv[3]).read_text().split())
    bad = 0
    for case, integrity, lost in run(argv[1], argv[2], acked):
        print(f"{case}: integrity {integrity}, {len(lost)} of {len(acked)} acknowledged users lost")
        bad += integrity != "ok" or bool(lost)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
