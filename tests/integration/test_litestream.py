"""Litestream as a sidecar of a live stack under load: it replicates to a
directory, its long read transactions and the WAL hook's TRUNCATE
checkpoints do not starve each other (the WAL keeps restarting from its
start under load), and a restore
from the replica holds every user acknowledged before its last sync."""

import os
import signal
import sqlite3
import struct
import subprocess
import threading
import time
from pathlib import Path

from tests.harness.built import built
from tests.harness.userload import UserLoad
from bench.harness.sqlite_files import users_in

ROOT = Path(__file__).resolve().parents[2]
LITESTREAM = ROOT / "build" / "litestream" / "litestream"
SETTINGS = dict(WORKERS=3, HASH_METHOD="sha512crypt", HASH_COST=1000)
LOAD_SECONDS = int(os.environ.get("LITESTREAM_LOAD_SECONDS", "20"))
# Litestream holds a read transaction, so the WAL hook's TRUNCATE (from 4096
# pages, 16 MiB) rarely gets its moment; Litestream checkpoints from 1000
# pages and forces one at 10000 (40 MiB).  How big the WAL file gets depends
# on how fast the workers commit (46-89 MiB in runs here), so its size cannot
# tell a working checkpoint from a starved one.  What can: every time a
# checkpoint catches up, the next writer starts the WAL again from its first
# frame and writes a new header whose checkpoint sequence number is one
# higher.  A starved checkpoint never does, so the test checks that the WAL
# restarted in the second half of the load too, not only at its start.
WAL_HEADER = struct.Struct(">IIII")  # magic, version, page size, checkpoint sequence


def wal_checkpoint_sequence(wal):
    """The WAL header's checkpoint sequence number, or None while the file
    has no header (missing or just truncated)."""
    try:
        with open(wal, "rb") as f:
            header = f.read(WAL_HEADER.size)
    except FileNotFoundError:
        return None
    if len(header) < WAL_HEADER.size:
        return None
    magic, _, _, sequence = WAL_HEADER.unpack(header)
    return sequence if magic in (0x377F0682, 0x377F0683) else None


def restarts(sequences):
    """How many times the checkpoint sequence went up along the samples."""
    seen = [x for x in sequences if x is not None]
    return sum(1 for a, b in zip(seen, seen[1:]) if b > a)


def litestream_binary():
    return str(built("litestream", LITESTREAM))  # npm pack, the first time



def watch_wal(wal, stop, sizes, sequences):
    while not stop.is_set():
        try:
            sizes.append(os.path.getsize(wal))
        except FileNotFoundError:
            sizes.append(0)
        sequences.append(wal_checkpoint_sequence(wal))
        time.sleep(0.05)


def restore(binary, config, db_path, tmp_path):
    """litestream restore -o into a new file of tmp_path; its path."""
    out = tmp_path / f"restored-{time.monotonic_ns()}.sqlite3"
    r = subprocess.run([binary, "restore", "-config", str(config), "-o", str(out), str(db_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out


def test_litestream_replicates_under_load_and_restores(make_stack, tmp_path):
    binary = litestream_binary()
    s = make_stack(**SETTINGS)
    replica = tmp_path / "replica"
    config = tmp_path / "litestream.yml"
    config.write_text(f"dbs:\n  - path: {s.db_path}\n    replicas:\n"
                      f"      - type: file\n        path: {replica}\n        sync-interval: 1s\n")
    log = open(tmp_path / "litestream.log", "w")
    proc = subprocess.Popen([binary, "replicate", "-config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT)
    sizes, sequences, stop = [], [], threading.Event()
    watcher = threading.Thread(target=watch_wal,
                               args=(f"{s.db_path}-wal", stop, sizes, sequences))
    watcher.start()
    load = UserLoad(s, "ls", clients=6, seconds=LOAD_SECONDS).start()
    try:
        load.wait_for(200)
        time.sleep(LOAD_SECONDS)  # load.seconds bounds the load; this lets it run
    finally:
        load.stop()
        stop.set()
        watcher.join()
    acked = load.acked()
    try:
        assert proc.poll() is None, (tmp_path / "litestream.log").read_text()
        print(f"\nlitestream: {len(acked)} users acknowledged, max WAL {max(sizes)} bytes"
              f" ({max(sizes) / 2**20:.1f} MiB) over {len(sizes)} samples")
        print("WAL MiB every 1 s:", [round(x / 2**20, 1) for x in sizes[::20]])
        half = len(sequences) // 2
        print(f"WAL restarts: {restarts(sequences[:half])} in the first half of the load,"
              f" {restarts(sequences[half:])} in the second")
        assert len(sizes) >= 30, "too few WAL samples to tell"
        assert restarts(sequences[half:]) >= 1, \
            f"no checkpoint caught up in the second half of the load: the WAL grew to {max(sizes)} bytes"
        # Restores until the replica holds every acknowledged user: sync-interval
        # is 1 s; 30 s is a margin for the shared machine.  Litestream is still
        # writing the replica meanwhile, and a restore read beside it can come
        # out malformed (one of about 15 runs here: the copy failed
        # integrity_check).  Those are counted and retried; the restore that
        # counts is the last one, from the replica at rest.
        deadline, malformed = time.monotonic() + 30, 0
        while time.monotonic() < deadline:
            try:
                if acked <= users_in(restore(binary, config, s.db_path, tmp_path)):
                    break
            except (AssertionError, sqlite3.DatabaseError):
                malformed += 1
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    # The replica at rest, as after losing the host: intact, complete, exact.
    restored = users_in(restore(binary, config, s.db_path, tmp_path))
    print(f"restores beside the running replication that came out malformed: {malformed}")
    assert acked <= restored, f"missing from the replica: {sorted(acked - restored)[:5]}"
    assert restored <= load.all_names()
    assert s.query("PRAGMA integrity_check") == [("ok",)]
