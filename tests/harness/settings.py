"""The service's settings, as environment variables: the one list the harness
clears so that a developer's shell cannot change what a test or a measurement
runs (a test sets what it needs explicitly).  The list comes from the binary's
own table (`sqlite-fcgi config --names`), so it cannot drift from it."""

import functools
import subprocess
from pathlib import Path

BINARY = Path(__file__).resolve().parents[2] / "build" / "sqlite-fcgi"


@functools.lru_cache(maxsize=1)
def setting_names():
    """Every variable the service and its scripts read, as the binary lists them."""
    out = subprocess.run([str(BINARY), "config", "--names"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    return tuple(out.split())


def without_settings(env):
    """A copy of env without any of the service's settings."""
    names = setting_names()
    return {k: v for k, v in env.items() if k not in names}
