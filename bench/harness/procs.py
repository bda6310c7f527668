"""Stopping a server the harness started in a session of its own."""

import os
import signal
import subprocess


def stop_group(proc, signum, timeout):
    """signum to proc (the server's own graceful stop), then KILL to its
    process group if it has not exited within timeout seconds."""
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
