"""What a test needs from the Makefile, built (or brought up to date) before
it runs: `make integration-test` has built it already, a single test run by
hand after `make` has not."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def built(target, path):
    """Runs `make TARGET` and returns path, which it must have made."""
    r = subprocess.run(["make", "-s", "-C", str(ROOT), target], capture_output=True, text=True)
    assert r.returncode == 0 and Path(path).exists(), f"make {target} failed:\n{r.stderr}"
    return path
