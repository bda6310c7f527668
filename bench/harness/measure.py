"""Measurement helpers shared by bench.py and tune.py (wrk itself is in
tests/harness/wrk.py): the workers' memory, CPU use, and waiting for the
workers to finish what a load left in flight."""

import re
import time
from pathlib import Path


def cpu_busy_fraction(before, after):
    """Share of all CPUs busy between two samples of system_cpu_times()."""
    idle = (after[3] + after[4]) - (before[3] + before[4])
    total = sum(after) - sum(before)
    return 1 - idle / total if total else 0.0


def system_cpu_times():
    """The first line of /proc/stat: user, nice, system, idle, iowait, ... (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]


def proc_field(pid, name):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{name}:\s+(\d+) kB", status, re.M).group(1))


def cpu_ticks(pids):
    return sum(sum(int(x) for x in Path(f"/proc/{p}/stat").read_text().split(")")[1].split()[11:13])
               for p in pids)


def wait_idle(stack, timeout=60):
    """Waits until the workers have answered what wrk left in flight."""
    pids = stack.worker_pids()
    deadline = time.monotonic() + timeout
    before = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_ticks(pids)
        if now == before:
            return
        before = now


def workers_memory_kb(stack):
    """Idle RSS summed and largest, and the largest peak (VmHWM), in kB."""
    pids = stack.worker_pids()
    rss = [proc_field(p, "VmRSS") for p in pids]
    return sum(rss), max(rss), max(proc_field(p, "VmHWM") for p in pids)


def workers_private_kb(stack):
    """The largest idle RssAnon of a worker, in kB: what is its own.  The rest
    of its RSS is pages of the binary and its shared libraries, which every
    worker maps from the same page cache."""
    return max(proc_field(p, "RssAnon") for p in stack.worker_pids())




def worker_time_shares(stack):
    """From /metrics: the share of the workers' /create_user/ time spent hashing
    and waiting for the write lock; (None, None) where there are no such metrics
    (the trivial FastCGI worker)."""
    text = stack.get("/metrics").text

    def total(name):
        m = re.search(rf"^sqlite_fcgi_{name}_seconds_sum (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    work, hashing, waiting = total("create_user"), total("password_hash"), total("write_lock_wait")
    if not work:
        return None, None
    return hashing / work, waiting / work
