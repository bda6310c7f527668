"""make bench BENCH_QUICK=1 produces its tables and CSV (the figures are not judged here)."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.harness.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_the_table(tmp_path):
    subprocess.run(["make", "-s", "bench-build"], cwd=ROOT, check=True, timeout=300)
    env = dict(os.environ, BENCH_QUICK="1", BENCH_DURATION="1", BENCH_OUT=str(tmp_path),
               BENCH_USERS="2000")
    env.pop("WORKERS", None)
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    # Progress was shown, up to the last run of however many the bench has.
    steps = re.findall(r"^bench: \[(\d+)/(\d+)\]", run.stdout, re.M)
    assert steps and steps[-1][0] == steps[-1][1], run.stdout
    assert [int(n) for n, _ in steps] == list(range(1, int(steps[-1][1]) + 1))
    table = (tmp_path / "results.md").read_text()
    for row in ("default hash (yescrypt", "SQLite commits/s, one writer, WAL + NORMAL",
                "| trivial FastCGI (ceiling) | 10 |", "| /create_user/, default hash | 100 |",
                "| /create_user/, cheap hash | 10 |", "WRITE_LOCK_WAIT=flock",
                "| PostgreSQL, default hash | 100 |", "| PostgreSQL, cheap hash | 100 |",
                "| GET /users/ alone (tuned) | 100 |", "creating users (django-default); the writes",
                "| pbkdf2_sha256, 260000 iterations", "| django-bcrypt, cost 12"):
        assert row in table, row
    # The write routes: each at FULL and NORMAL, on both disks, the slow one
    # said to be simulated; group commit's rows run (this binary has
    # GROUP_COMMIT: "not available" would hide rows that did not run).
    for route in ("/create_user/, cheap hash", "the matrix's six writes, in turn"):
        for durability in ("FULL", "NORMAL", "FULL + group commit"):
            for disk in ("this machine's disk", "simulated 1 ms fsync"):
                assert f"| {route}, {durability}, {disk} | " in table, (route, durability, disk)
    gc = re.findall(r"^\| [^|]*, FULL \+ group commit, [^|]* \| (\S+)", table, re.M)
    assert "GROUP_COMMIT" in setting_names()
    assert len(gc) == 4 and all(re.fullmatch(r"\d+", x) and int(x) > 0 for x in gc), gc
    for ratio in ("| FULL / NORMAL | ", "| FULL + group commit / NORMAL | ",
                  "| FULL + group commit / FULL, both on the simulated 1 ms fsync | "):
        assert ratio in table, ratio
    # The big table: creations and reads beside a new table's, and their ratio.
    for row in ("| /create_user/, cheap hash, a new table |",
                "| /create_user/, cheap hash, 2,000 users in the table |",
                "| GET /users/, 2,000 users in the table |"):
        assert row in table, row
    assert re.search(r"^\| GET /users/ \| \d+% \(\d+ / \d+\) \|", table, re.M), table
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == int(steps[-1][1])  # one row per run announced
    for r in rows:
        assert float(r["rps"]) > 0, r
        assert int(r["requests"]) > 0, r
        assert float(r["p50_ms"]) <= float(r["p99_ms"]) <= float(r["p999_ms"]), r
        assert 0 < int(r["private_max_kb"]) < int(r["rss_max_kb"]), r
        if r["kind"] == "hello" or r.get("route") == "matrix":
            assert r["hash_share"] == "", r  # no /create_user/ metrics: the trivial worker, the matrix
        else:
            assert 0 < float(r["hash_share"]) <= 1 and 0 <= float(r["lock_wait_share"]) < 1, r
