"""What the tools read from /proc (wrk itself is in wrk.py): the processes of
a server and their CPU time and memory, the machine's CPU use, and waiting
until a server has finished what a load left in flight."""

import os
import re
import subprocess
import time
from pathlib import Path

TICK_HZ = os.sysconf("SC_CLK_TCK")  # the unit of /proc/PID/stat's times
# How often the memory of a server under load is sampled, and the CPU time
# of an idle one compared.
SAMPLE_S = 0.5


def descendants(roots):
    """roots and every process below them (pgrep -P, level by level)."""
    seen, level = [], list(roots)
    while level:
        seen += level
        out = subprocess.run(["pgrep", "-P", ",".join(map(str, level))],
                             capture_output=True, text=True)
        level = [int(p) for p in out.stdout.split() if int(p) not in seen]
    return seen


def cpu_ticks(pid):
    """utime + stime + cutime + cstime of pid (the children it reaped count
    too), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15])


def cpu_snapshot(pids):
    """{pid: CPU ticks} of the pids still alive."""
    snap = {p: cpu_ticks(p) for p in pids}
    return {p: t for p, t in snap.items() if t is not None}


def cpu_seconds(before, after):
    """CPU used between two snapshots, by the processes alive at the second."""
    return sum(t - before.get(p, 0) for p, t in after.items()) / TICK_HZ


def wait_idle(pids, timeout=60, quiet=SAMPLE_S):
    """Waits until the processes pids() returns use no CPU for quiet seconds:
    a server has answered what a load (wrk, which drops its connections at
    its deadline) left in flight.  The timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    before = sum(cpu_snapshot(pids()).values())
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = sum(cpu_snapshot(pids()).values())
        if now == before:
            return
        before = now


def proc_field(pid, name):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, RssAnon), or 0 when gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{name}:\s+(\d+) kB", status, re.M)
    return int(m.group(1)) if m else 0


def rss_kb(pids):
    """The summed RSS of pids, in kB (shared pages counted once per process)."""
    return sum(proc_field(p, "VmRSS") for p in pids)


def cpu_busy_fraction(before, after):
    """Share of all CPUs busy between two samples of system_cpu_times()."""
    idle = (after[3] + after[4]) - (before[3] + before[4])
    total = sum(after) - sum(before)
    return 1 - idle / total if total else 0.0


def system_cpu_times():
    """The first line of /proc/stat: user, nice, system, idle, iowait, ... (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]


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
