"""wrk with a machine-readable report (wrk_report.lua prints one WRK line)."""

import re
import subprocess
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "wrk_report.lua"
FAILURE_KINDS = ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")


def sent(stdout):
    """{path: requests sent} from bench/load/matrix.lua's WRK_SENT line ({} without one)."""
    m = re.search(r"^WRK_SENT (.*)$", stdout, re.M)
    if not m:
        return {}
    return {k: int(v) for k, v in (kv.rsplit("=", 1) for kv in m.group(1).split())}


def parse_report(stdout):
    """The WRK line's key=value pairs as ints."""
    m = re.search(r"^WRK (.*)$", stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no report:\n{stdout}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def command(url, connections, duration, script=None, args=()):
    """wrk's command line for a run of duration seconds with a script that
    prints the report (None: wrk_report.lua; or one that loads it), and the
    script's own arguments."""
    threads = min(2, connections)
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
            "-s", str(script or REPORT), url, *(["--", *args] if args else [])]


def summary(stdout, stderr=""):
    """req/s, failures and latency percentiles (ms) from wrk's output."""
    try:
        r = parse_report(stdout)
    except RuntimeError as e:
        raise RuntimeError(f"{e}\n{stderr}") from None
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "requests": r["requests"],
            "failures": sum(r[k] for k in FAILURE_KINDS), "p50_ms": r["p50_us"] / 1e3,
            "p99_ms": r["p99_us"] / 1e3, "p999_ms": r["p999_us"] / 1e3,
            "max_ms": r["max_us"] / 1e3}


def wrk(url, connections, duration, script=None, args=()):
    """Runs wrk against url; returns req/s, failures and latency percentiles (ms)."""
    out = subprocess.run(command(url, connections, duration, script, args), capture_output=True,
                         text=True, timeout=duration + 60, check=True)
    return summary(out.stdout, out.stderr)


def cells(r):
    """summary()'s figures as the cells of a markdown row: req/s, p50, p99,
    p99.9 (ms) and failures."""
    return (f"{r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | "
            f"{r['failures']}")
