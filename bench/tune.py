"""make tune: the worker count and the threads per worker chosen with evidence.

For each WORKERS x WORKER_THREADS of a small grid, a fresh stack gets the
same wrk load; the table gives req/s, p50, p99, p99.9, failures, CPU use and
the workers' total RSS, and the recommendation is the fewest serving threads
in all (workers x threads; then the fewer workers: a thread costs less
memory than a process) within 5% of the best throughput whose p99 meets the
budget.  Writes var/tune/results.md, results.csv, tune.png.

Environment: TUNE_WORKERS ("1 2 ... 2*CPUs+2"), TUNE_THREADS ("1 2 4"), TUNE_CONNECTIONS (10),
TUNE_DURATION (seconds, 10), TUNE_P99_BUDGET_MS (1000), TUNE_OUT (var/tune),
and the service's settings that SETTINGS lists (SQLITE_PROFILE, HASH_METHOD,
GROUP_COMMIT, ...; DATABASE_URL: every run on that PostgreSQL database, whose
users it adds to).
"""

import csv
import os
import sys
import tempfile
from pathlib import Path

from harness.measure import cpu_busy_fraction, system_cpu_times, wait_idle, workers_memory_kb
from harness.plot import run_gnuplot
from harness.stack import ROOT, Stack
from harness.wrk import wrk

CPUS = os.cpu_count() or 1
COUNTS = [int(w) for w in os.environ.get("TUNE_WORKERS", "").split()] or \
    list(range(1, 2 * CPUS + 3))
THREADS = [int(t) for t in os.environ.get("TUNE_THREADS", "").split()] or [1, 2, 4]
GRID = [(w, t) for t in THREADS for w in COUNTS]
CONNECTIONS = int(os.environ.get("TUNE_CONNECTIONS", "10"))
DURATION = int(os.environ.get("TUNE_DURATION", "10"))
BUDGET_MS = float(os.environ.get("TUNE_P99_BUDGET_MS", "1000"))
OUT = Path(os.environ.get("TUNE_OUT", ROOT / "var" / "tune"))
# The service's own settings pass through; these are the sweep's.
SETTINGS = {k: v for k, v in os.environ.items()
            if k in ("SQLITE_PROFILE", "HASH_METHOD", "HASH_COST", "WRITE_LOCK_WAIT",
                     "SQLITE_JOURNAL_MODE", "SQLITE_SYNCHRONOUS", "SQLITE_TXN",
                     "SQLITE_BUSY_TIMEOUT_MS", "HASH_WHEN", "GROUP_COMMIT",
                     "GROUP_COMMIT_MAX", "DATABASE_URL")}


def measure(tmp, workers, threads):
    stack = Stack(Path(tmp) / f"w{workers}t{threads}", WORKERS=workers, WORKER_THREADS=threads,
                  **SETTINGS).start()
    try:
        stack.get("/create_user/")
        before = system_cpu_times()
        r = wrk(stack.url("/create_user/"), CONNECTIONS, DURATION)
        r["cpu"] = cpu_busy_fraction(before, system_cpu_times())
        wait_idle(stack.worker_pids)
        r["rss_total_kb"], _, _ = workers_memory_kb(stack)
    finally:
        stack.stop()
    r["workers"], r["threads"] = workers, threads
    return r


def recommend(rows):
    best = max(r["rps"] for r in rows)
    for r in sorted(rows, key=lambda r: (r["workers"] * r["threads"], r["workers"])):
        if r["rps"] >= 0.95 * best and r["p99_ms"] <= BUDGET_MS and r["failures"] == 0:
            return r, (f"WORKERS={r['workers']} WORKER_THREADS={r['threads']}: the fewest "
                       f"serving threads within 5% of the best throughput "
                       f"({r['rps']:.1f} of {best:.1f} req/s) with p99 {r['p99_ms']:.0f} ms "
                       f"<= {BUDGET_MS:.0f} ms and no failures")
    return None, (f"no WORKERS x WORKER_THREADS met p99 <= {BUDGET_MS:.0f} ms within 5% of the best "
                  f"throughput ({best:.1f} req/s) without failures: raise the budget or lower the load")


def plot(rows):
    """req/s and p99 against the worker count, one pair of lines a thread count."""
    data = OUT / "tune.dat"
    blocks = ["".join(f"{r['workers']} {r['rps']:.3f} {r['p99_ms']:.3f}\n"
                      for r in rows if r["threads"] == t) for t in THREADS]
    data.write_text("\n\n".join(blocks))  # gnuplot's data sets: "index N"
    lines = ", \\\n     ".join(
        f"'{data}' index {i} using 1:2 with linespoints title 'req/s, {t} thread(s)' axes x1y1, "
        f"'{data}' index {i} using 1:3 with linespoints dashtype 2 title 'p99 ms, {t} thread(s)' axes x1y2"
        for i, t in enumerate(THREADS))
    script = f"""
set terminal png size 900,500
set output '{OUT / "tune.png"}'
set title 'sqlite-fcgi: workers x threads ({CONNECTIONS} connections, {DURATION} s each)'
set xlabel 'workers'
set ylabel 'req/s'
set y2label 'p99 (ms)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set xtics 1
set key outside
plot {lines}
"""
    err = run_gnuplot(script, OUT)
    if err:
        raise RuntimeError(f"tune.png: {err}")


def write(rows, verdict):
    lines = [f"Machine: {CPUS} CPUs; wrk, {CONNECTIONS} connections, {DURATION} s per run; "
             f"p99 budget {BUDGET_MS:.0f} ms.", "",
             "| workers | threads each | req/s | p50 ms | p99 ms | p99.9 ms | failures | CPU use | workers' RSS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['threads']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['p999_ms']:.1f} | {r['failures']} | {r['cpu'] * 100:.0f}% | "
                     f"{r['rss_total_kb'] / 1024:.1f} MiB |")
    lines += ["", f"Recommendation: {verdict}"]
    text = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(text)
    with open(OUT / "results.csv", "w", newline="") as f:
        fields = ["workers", "threads", "rps", "p50_ms", "p99_ms", "p999_ms", "failures", "cpu",
                  "rss_total_kb", "requests"]
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return text


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sqlite-fcgi-tune-") as tmp:
        for i, (workers, threads) in enumerate(GRID, 1):
            left = (len(GRID) - i + 1) * (DURATION + 3)
            print(f"tune: [{i}/{len(GRID)}] {workers} workers x {threads} threads, "
                  f"{CONNECTIONS} connections, {DURATION} s (about {left} s left) ...", flush=True)
            r = measure(tmp, workers, threads)
            rows.append(r)
            print(f"tune:   {r['rps']:.1f} req/s, p99 {r['p99_ms']:.0f} ms, "
                  f"{r['failures']} failures, CPU {r['cpu'] * 100:.0f}%", flush=True)
    _, verdict = recommend(rows)
    text = write(rows, verdict)
    plot(rows)
    print()
    print(text)
    print(f"tune: written {OUT}/results.md, results.csv and tune.png", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
