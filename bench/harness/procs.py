"""Waiting for, and stopping, a server the harness started in a session of its own."""

import os
import signal
import subprocess
import time

import requests


def wait_answering(proc, name, answers, timeout, exit_detail, poll_s=0.05):
    """Returns once answers() (a request to the server proc runs) is true.
    RuntimeError when proc exits first (naming name, its status and
    exit_detail(), read then) or has not answered within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}{exit_detail()}")
        try:
            if answers():
                return
        except requests.RequestException:
            pass
        time.sleep(poll_s)
    raise RuntimeError(f"{name} did not answer within {timeout} s")


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
