"""wrk with a machine-readable report (wrk_report.lua prints one WRK line)."""

import re
import subprocess
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "wrk_report.lua"
FAILURE_KINDS = ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")


def parse_report(stdout):
    """The WRK line's key=value pairs as ints."""
    m = re.search(r"^WRK (.*)$", stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no report:\n{stdout}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def wrk(url, connections, duration):
    """Runs wrk against url; returns req/s, failures and latency percentiles (ms)."""
    threads = min(2, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(REPORT), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=True)
    try:
        r = parse_report(out.stdout)
    except RuntimeError as e:
        raise RuntimeError(f"{e}\n{out.stderr}") from None
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "requests": r["requests"],
            "failures": sum(r[k] for k in FAILURE_KINDS), "p50_ms": r["p50_us"] / 1e3,
            "p99_ms": r["p99_us"] / 1e3, "p999_ms": r["p999_us"] / 1e3}
