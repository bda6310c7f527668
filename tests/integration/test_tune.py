"""A short make tune (two worker counts, a few seconds each) writes its table, CSV and plot."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_tune_writes_table_csv_and_png(tmp_path):
    env = dict(os.environ, TUNE_WORKERS="1 2", TUNE_DURATION="2", TUNE_CONNECTIONS="4",
               TUNE_OUT=str(tmp_path), HASH_METHOD="sha512crypt", HASH_COST="1000")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "tune.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tune: [2/2] 2 workers" in run.stdout
    table = (tmp_path / "results.md").read_text()
    assert "| workers | req/s | p50 ms | p99 ms | p99.9 ms | failures | CPU use | workers' RSS |" in table
    assert "Recommendation: " in table
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [int(r["workers"]) for r in rows] == [1, 2]
    for r in rows:
        assert float(r["rps"]) > 0 and int(r["failures"]) == 0, r
        assert 0 < float(r["cpu"]) <= 1, r
        assert int(r["rss_total_kb"]) > 0, r
    png = (tmp_path / "tune.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
