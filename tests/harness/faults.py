"""Faults injected into a running stack's workers by tests/faults/inject.c
(LD_PRELOAD, built by `make faults-build`): a fault is on while its trigger
file exists, in every process of the stack at once."""

from contextlib import contextmanager
from pathlib import Path

from tests.harness.built import built
from bench.harness.stack import ROOT

INJECT = ROOT / "build" / "faults" / "inject.so"

# The triggers inject.c knows.
IO_WRITE = "io-write"    # pwrite on the database, its WAL or journal: EIO
IO_SYNC = "io-sync"      # fsync/fdatasync on them: EIO
GETRANDOM = "getrandom"  # getrandom: ENOSYS


class Faults:
    """The triggers' directory; env() is what a stack needs to load the
    injector, on(name) turns a fault on for the length of a with block."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def env(self, db_path):
        built("faults-build", INJECT)
        # The injector compares with the paths in /proc/self/fd: resolved.
        return {"LD_PRELOAD": str(INJECT), "FAULTS_DIR": str(self.dir),
                "FAULTS_DB": str(Path(db_path).resolve())}

    @contextmanager
    def on(self, name):
        trigger = self.dir / name
        trigger.touch()
        try:
            yield
        finally:
            trigger.unlink()
