"""The service's settings, as environment variables: the one list the harness
clears so that a developer's shell cannot change what a test or a measurement
runs (a test sets what it needs explicitly), and the values the binary
resolves from an environment.  Both come from the binary's own table
(`sqlite-fcgi config --names`, `sqlite-fcgi config`), so they cannot drift
from it."""

import functools
import subprocess

from .paths import BINARY


@functools.lru_cache(maxsize=1)
def setting_names():
    """Every variable the service and its scripts read, as the binary lists them."""
    out = subprocess.run([str(BINARY), "config", "--names"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    return tuple(out.split())


# What deploy/local/stack.sh and deploy/pool/workers.sh read besides the
# settings of the table: the socket's path, how long a start may take, and
# RUN_DIR and the binary, which the harness always sets.
SCRIPT_SETTINGS = ("RUN_DIR", "SOCKET", "START_TIMEOUT", "SQLITE_FCGI")


def without_settings(env):
    """A copy of env without any of the service's settings, nor the scripts'."""
    names = set(setting_names()) | set(SCRIPT_SETTINGS)
    return {k: v for k, v in env.items() if k not in names}


def parse_config(text):
    """NAME -> value from `sqlite-fcgi config`'s output: its first block, one
    NAME=value line per setting (the statements a worker runs follow a
    blank line)."""
    values = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name] = value
    return values


def effective(env, binary=BINARY):
    """The settings as the binary resolves them in env (its defaults where
    env says nothing); raises CalledProcessError, naming the bad one, when
    env holds a bad value."""
    out = subprocess.run([str(binary), "config"], env=env, capture_output=True,
                         text=True, check=True, timeout=30).stdout
    return parse_config(out)
