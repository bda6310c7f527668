"""Load and measurement helpers shared by bench.py and tune.py: wrk with a
machine-readable report, the workers' memory, CPU use, and waiting for the
workers to finish what a load left in flight."""

import re
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_busy_fraction(before, after):
    """Share of all CPUs busy between two samples of system_cpu_times()."""
    idle = (after[3] + after[4]) - (before[3] + before[4])
    total = sum(after) - sum(before)
    return 1 - idle / total if total else 0.0


def system_cpu_times():
    """The first line of /proc/stat: user, nice, system, idle, iowait, ... (ticks)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]


def wrk(url, connections, duration):
    """Runs wrk against url; returns req/s, failures and latency percentiles (ms)."""
    threads = min(2, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(HERE / "wrk_report.lua"), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
    m = re.search(r"^WRK (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no report:\n{out.stdout}\n{out.stderr}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    failures = sum(r[k] for k in ("status_errors", "connect_errors", "read_errors",
                                  "write_errors", "timeouts"))
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "requests": r["requests"],
            "failures": failures, "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
            "p999_ms": r["p999_us"] / 1e3}


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
