"""The simulated slow disk (bench/slow_sync.c, LD_PRELOAD, built by
`make bench-build`): every fdatasync and fsync of one database, its WAL and
its journal take SLOW_SYNC_US longer, in every process of a stack that loads
it.  Simulated, and labelled so wherever a figure measured on it is shown."""

from pathlib import Path

from .paths import ROOT

SHIM = ROOT / "build" / "bench" / "slow_sync.so"
# What a disk without power-loss protection takes to flush (issue figures:
# consumer NVMe, network block storage).
DEFAULT_DELAY_US = 1000
# The line the library writes to a process's stderr on its first delay.
BANNER = "slow_sync: simulated slow disk"


def label(delay_us=DEFAULT_DELAY_US):
    """How a row measured on the simulated disk says so."""
    return f"simulated {delay_us / 1000:g} ms fsync"


def env(db_path, delay_us=DEFAULT_DELAY_US):
    """What a stack's environment needs so that its syncs of db_path are
    delayed.  The library compares with /proc/self/fd's names: resolved."""
    if not SHIM.exists():
        raise FileNotFoundError(f"{SHIM}: run make bench-build")
    return {"LD_PRELOAD": str(SHIM), "SLOW_SYNC_DB": str(Path(db_path).resolve()),
            "SLOW_SYNC_US": str(delay_us)}
