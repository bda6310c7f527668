"""The log tests/powerloss/recorder.c writes: one record per operation on
the database's files and per request and answer of a FastCGI connection,
in the one order all the processes appended them in."""

import struct
from collections import namedtuple
from pathlib import Path

HEADER = struct.Struct("<IIIiBBHIQ")  # struct record in recorder.c
MAGIC = 0x32524C50  # "PLR2"
(OP_WRITE, OP_TRUNCATE, OP_SYNC, OP_UNLINK, OP_CREATE, OP_UNSUPPORTED,
 OP_SYNC_DONE, OP_ACCEPT, OP_CONN_READ, OP_CONN_WRITE) = range(1, 11)
DB, WAL, JOURNAL, DIR, CONN = range(1, 6)  # enum kind in recorder.c
SUFFIXES = {DB: "", WAL: "-wal", JOURNAL: "-journal"}  # the files a crash state holds

# index: the record's position in the log; a crash at point P keeps the
# records whose index is below P.  offset: a write's offset, a truncate's
# new size, or a sync's errno (0: it returned success).
Record = namedtuple("Record", "index pid tid fd op kind offset data")


class LogError(Exception):
    """A log the model cannot replay: torn, or holding a call it does not cover."""


def read_log(path):
    """The records of the log at path, in order."""
    raw = Path(path).read_bytes()
    records, pos = [], 0
    while pos < len(raw):
        if pos + HEADER.size > len(raw):
            raise LogError(f"torn record at byte {pos}")
        magic, pid, tid, fd, op, kind, _pad, length, offset = HEADER.unpack_from(raw, pos)
        if magic != MAGIC:
            raise LogError(f"bad record at byte {pos}")
        pos += HEADER.size
        if op == OP_UNSUPPORTED:
            raise LogError(f"a call the model does not cover ({kind=}, {offset=:#x}):"
                           " see tests/powerloss/recorder.c")
        if not OP_WRITE <= op <= OP_CONN_WRITE:
            raise LogError(f"unknown operation {op} at byte {pos}")
        records.append(Record(len(records), pid, tid, fd, op, kind, offset,
                              raw[pos:pos + length]))
        pos += length
    return records
