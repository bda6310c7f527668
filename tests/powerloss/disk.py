"""What a disk can hold after a power loss at a point of the log.

The model (ALICE's and CrashMonkey's for a file system that keeps no order
between unsynced writes, with SQLite's crash VFS's and LazyFS's torn
writes):
- a write or truncate of a file is durable once a sync (fsync/fdatasync)
  of that file that started after it has returned 0;
- until then (never synced, or its sync still running at the crash) each
  write may be lost, persisted whole, or torn: persisted in part, sector by
  sector (512 bytes, aligned in the file; a sector is written whole or not
  at all, as SQLite assumes), each independently of the others and of
  their order; a truncate may be lost or done;
- the creation of a file is durable at once (SQLite copes with an empty
  file); an unlink is durable once a sync of the directory that started
  after it has returned, and until then the file may come back with its
  durable content (SQLite syncs the directory only with synchronous=EXTRA).

Disk replays the log forwards, one record at a time, so that the crash
states of a run are made in one pass: durable content is kept up to date,
and a state is that content plus a draw of the writes still pending."""

from tests.powerloss.writelog import (DIR, OP_CREATE, OP_SYNC, OP_SYNC_DONE, OP_TRUNCATE,
                                      OP_UNLINK, OP_WRITE, SUFFIXES, LogError)

SECTOR = 512


class File:
    """One file: its durable content, and the writes and truncates since
    (index, offset, data; data None for a truncate to offset) in log order."""

    def __init__(self, content=b""):
        self.durable = bytearray(content)
        self.pending = []

    def make_durable(self, before):
        """A sync that started at index `before` returned: what was logged
        before it is on the disk."""
        n = 0
        while n < len(self.pending) and self.pending[n][0] < before:
            n += 1
        apply(self.durable, (op[1:] for op in self.pending[:n]))
        del self.pending[:n]


def apply(content, ops):
    """Applies (offset, data) writes and (size, None) truncates in place."""
    for offset, data in ops:
        if data is None:
            del content[offset:]
            content.extend(bytes(offset - len(content)))
        else:
            if offset > len(content):
                content.extend(bytes(offset - len(content)))
            content[offset:offset + len(data)] = data
    return content


def sectors(offset, data):
    """A write cut at the sector boundaries of the file: [(offset, bytes)]."""
    pieces, pos = [], 0
    while pos < len(data):
        end = min(len(data), (offset + pos) // SECTOR * SECTOR + SECTOR - offset)
        pieces.append((offset + pos, data[pos:end]))
        pos = end
    return pieces


class Disk:
    """The files of one database as the log is replayed; `position` is the
    index of the next record, i.e. the crash point the disk is at."""

    def __init__(self, initial):
        """initial: {kind: bytes} of the files that exist before the log."""
        self.files = {k: File(initial[k]) if initial.get(k) is not None else None
                      for k in SUFFIXES}
        self.ghosts = {}    # kind: (File, index of its unlink), not yet durable
        self.syncing = {}   # thread id: (kind, index of the sync's start)
        self.position = 0

    def advance(self, records, to):
        """Replays records up to (not including) index `to`."""
        while self.position < to:
            self._replay(records[self.position])
            self.position += 1

    def _replay(self, r):
        if r.op == OP_SYNC:
            self.syncing[r.tid] = (r.kind, r.index)
        elif r.op == OP_SYNC_DONE:
            self._sync_returned(r)
        elif r.kind == DIR or r.kind not in SUFFIXES:
            return  # connections, and a directory's creation: nothing on the disk
        elif r.op == OP_CREATE:
            if self.files[r.kind] is None:
                self.files[r.kind] = File()
        elif r.op in (OP_WRITE, OP_TRUNCATE):
            f = self.files[r.kind]
            if f is None:
                raise LogError(f"record {r.index}: a write to {SUFFIXES[r.kind] or 'db'}, "
                               "which does not exist")
            f.pending.append((r.index, r.offset, r.data if r.op == OP_WRITE else None))
        elif r.op == OP_UNLINK:
            if self.files[r.kind] is not None and r.kind not in self.ghosts:
                self.ghosts[r.kind] = (self.files[r.kind], r.index)
            self.files[r.kind] = None

    def _sync_returned(self, r):
        kind, start = self.syncing.pop(r.tid, (None, None))
        if start is None:
            raise LogError(f"record {r.index}: a sync ended that never started")
        if r.offset != 0:
            return  # a failed sync makes nothing durable
        if kind == DIR:
            self.ghosts = {k: g for k, g in self.ghosts.items() if g[1] > start}
        elif kind in SUFFIXES and self.files[kind] is not None:
            self.files[kind].make_durable(start)

    def worst_case(self):
        """{suffix: content}: every pending write lost, every pending unlink
        undone.  The contents are the disk's own: read them, never change them."""
        state = {}
        for kind, suffix in SUFFIXES.items():
            f = self.ghosts[kind][0] if kind in self.ghosts else self.files[kind]
            if f is not None:
                state[suffix] = f.durable
        return state

    def random_state(self, rng):
        """{suffix: content}: each pending write lost, kept or torn, at odds
        drawn for this state (from nearly all kept to nearly all lost);
        each pending unlink undone or not."""
        lost, torn = rng.random(), rng.random() * 0.5
        state = {}
        for kind, suffix in SUFFIXES.items():
            f = self.files[kind]
            if kind in self.ghosts and rng.random() < 0.5:
                f = self.ghosts[kind][0]
            if f is not None:
                kept = survivors(f.pending, rng, lost, torn)
                state[suffix] = apply(bytearray(f.durable), kept) if kept else f.durable
        return state


def survivors(pending, rng, lost, torn):
    """What persists of the pending operations: [(offset, data)]."""
    kept = []
    for _index, offset, data in pending:
        if rng.random() < lost:
            continue
        if data is not None and rng.random() < torn:
            kept.extend(p for p in sectors(offset, data) if rng.random() < 0.5)
        else:
            kept.append((offset, data))
    return kept
