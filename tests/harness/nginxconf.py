"""Checking a rendered nginx configuration with nginx itself."""

import subprocess


def nginx_t(conf_file, prefix):
    """`nginx -t` on conf_file with prefix as its directory (its startup log
    goes there too); the CompletedProcess, whose stderr says why on failure."""
    return subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(conf_file),
                           "-e", str(prefix / "startup-error.log")],
                          capture_output=True, text=True, timeout=30)
