"""A run of the real stack under load with the write recorder preloaded
(tests/powerloss/recorder.c), ended as a power loss would end it."""

import os
import shutil
import signal
import subprocess
from collections import namedtuple
from pathlib import Path

from tests.harness.built import built
from bench.harness.stack import BINARY, ROOT, Stack
from tests.harness.userload import UserLoad

RECORDER = ROOT / "build" / "powerloss" / "recorder.so"

# log: the recorder's log; snapshot: the database before it; client_acked:
# the names the clients had a 2xx for.
Recording = namedtuple("Recording", "log snapshot client_acked")


def power_cut(stack):
    """Stops the pool at once, as a power loss would: no worker gets to
    close its connection (which would checkpoint and sync).  multiwatch is
    stopped first so that it restarts nobody."""
    pool = stack.pid("workers")
    os.kill(pool, signal.SIGSTOP)
    for pid in stack.worker_pids():
        os.kill(pid, signal.SIGKILL)
    os.kill(pool, signal.SIGKILL)


def record(directory, users, workers=3, clients=6, **settings):
    """Creates users under load until `users` were answered 2xx, then cuts
    the power while the clients still send.  The cheap hash makes commits,
    not hashing, the work."""
    built("powerloss-build", RECORDER)
    run_dir = Path(directory) / "run"
    run_dir.mkdir(parents=True)
    db = (run_dir / "db.sqlite3").resolve()
    log, snapshot = Path(directory) / "writes.log", Path(directory) / "before.sqlite3"
    stack = Stack(run_dir, WORKERS=workers, HASH_METHOD="sha512crypt", HASH_COST=1000,
                  **settings)
    # The schema is made before recording starts; the replay starts from a copy.
    subprocess.run([str(BINARY), "migrate"], env=stack.env, check=True, capture_output=True)
    shutil.copyfile(db, snapshot)
    assert not Path(f"{db}-wal").exists()
    stack.env.update(LD_PRELOAD=str(RECORDER), POWERLOSS_DB=str(db), POWERLOSS_LOG=str(log))
    stack.start()
    try:
        load = UserLoad(stack, "pl", clients=clients, seconds=300).start()
        try:
            load.wait_for(users, timeout=240)
        finally:
            power_cut(stack)
            load.stop()
    finally:
        stack.stop()
    return Recording(log, snapshot, load.acked())
