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


# What deploy/stack.sh and deploy/workers.sh read besides the settings of the
# table: the socket's path, how long a start may take, and RUN_DIR and the
# binary, which the harness always sets.
SCRIPT_SETTINGS = ("RUN_DIR", "SOCKET", "START_TIMEOUT", "SQLITE_FCGI")


def without_settings(env):
    """A copy of env without any of the service's settings, nor the scripts'."""
    names = set(setting_names()) | set(SCRIPT_SETTINGS)
    return {k: v for k, v in env.items() if k not in names}
