"""Rendering the nginx configuration (nginx/render.sh) and checking it with
nginx itself."""

import os
import subprocess

from bench.harness.stack import BINARY, ROOT

RENDER = ROOT / "nginx" / "render.sh"


def render(*args):
    """nginx/render.sh ARGS; it asks the binary for METRICS_ALLOW's default,
    as the stack does.  The CompletedProcess."""
    env = dict(os.environ, SQLITE_FCGI=str(BINARY))
    return subprocess.run([str(RENDER), *map(str, args)], capture_output=True, text=True,
                          env=env)


def nginx_t(conf_file, prefix):
    """`nginx -t` on conf_file with prefix as its directory (its startup log
    goes there too); the CompletedProcess, whose stderr says why on failure."""
    return subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(conf_file),
                           "-e", str(prefix / "startup-error.log")],
                          capture_output=True, text=True, timeout=30)
