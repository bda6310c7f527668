"""A short make tune (two worker counts x two thread counts, a few seconds each) writes its
table, CSV and plot; its choice follows its rule."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_short_tune_writes_table_csv_and_png(tmp_path):
    env = dict(os.environ, TUNE_WORKERS="1 2", TUNE_THREADS="1 2", TUNE_DURATION="1",
               TUNE_CONNECTIONS="4",
               TUNE_OUT=str(tmp_path), HASH_METHOD="sha512crypt", HASH_COST="1000")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "tune.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tune: [4/4] 2 workers x 2 threads" in run.stdout
    table = (tmp_path / "results.md").read_text()
    assert ("| workers | threads each | req/s | p50 ms | p99 ms | p99.9 ms | failures | CPU use "
            "| workers' RSS |") in table
    assert "Recommendation: " in table and "Recommendation: " in run.stdout
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [(int(r["workers"]), int(r["threads"])) for r in rows] == [(1, 1), (2, 1), (1, 2), (2, 2)]
    for r in rows:
        assert float(r["rps"]) > 0 and int(r["failures"]) == 0, r
        assert 0 < float(r["cpu"]) <= 1, r
        assert int(r["rss_total_kb"]) > 0, r
    png = (tmp_path / "tune.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def load_tune(monkeypatch):
    """bench/tune.py as a module, with the default budget (1000 ms)."""
    monkeypatch.delenv("TUNE_P99_BUDGET_MS", raising=False)
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("tune_under_test", ROOT / "bench" / "tune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(workers, rps, p99_ms, failures=0, threads=1):
    return {"workers": workers, "threads": threads, "rps": rps, "p99_ms": p99_ms,
            "failures": failures}


@pytest.mark.parametrize("rows, chosen", [
    # The fewest workers within 5% of the best throughput (190 of 200).
    ([row(1, 100, 200), row(2, 190, 300), row(3, 200, 400), row(4, 198, 500)], 2),
    # Just under 5% is not enough.
    ([row(1, 100, 200), row(2, 189.9, 300), row(3, 200, 400)], 3),
    # The rows' order does not matter.
    ([row(4, 198, 500), row(3, 200, 400), row(2, 190, 300), row(1, 100, 200)], 2),
    # A p99 over the budget, or any failure, rules a count out.
    ([row(2, 199, 1001), row(3, 200, 400)], 3),
    ([row(2, 200, 300, failures=1), row(3, 199, 400)], 3),
    ([row(1, 50, 1000)], 1),  # the budget itself is allowed
    # Threads: the fewest serving threads in all (workers x threads), then the fewer workers.
    ([row(4, 200, 400), row(1, 195, 300, threads=2), row(2, 196, 300)], (1, 2)),
    ([row(3, 200, 400), row(1, 199, 300, threads=4)], (3, 1)),
    ([row(2, 100, 300, threads=2), row(4, 200, 400), row(2, 200, 400, threads=2)], (2, 2)),
    # Nothing qualifies: no recommendation.
    ([row(1, 100, 2000), row(2, 200, 1500, failures=3)], None),
])
def test_recommend_picks_the_fewest_serving_threads_that_meet_the_rule(monkeypatch, rows, chosen):
    tune = load_tune(monkeypatch)
    best, why = tune.recommend(rows)
    if chosen is None:
        assert best is None
        assert why.startswith("no WORKERS x WORKER_THREADS met p99 <= 1000 ms")
        return
    workers, threads = chosen if isinstance(chosen, tuple) else (chosen, 1)
    assert (best["workers"], best["threads"]) == (workers, threads)
    assert why.startswith(f"WORKERS={workers} WORKER_THREADS={threads}: the fewest serving "
                          "threads within 5% of the best throughput")
