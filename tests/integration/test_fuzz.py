"""The libFuzzer smoke run (make fuzz-smoke): every target on its seeds and
whatever it finds in a few seconds, under ASan + UBSan + LeakSanitizer."""

import re
import subprocess

from bench.harness.stack import ROOT


def test_fuzz_smoke_finds_nothing():
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "fuzz-smoke"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    runs = re.findall(r"^fuzz: (\w+): (\d+) executions in (\d+) s, no finding$",
                      result.stdout, re.M)
    print("\n" + "\n".join(f"fuzz: {t}: {n} executions in {s} s" for t, n, s in runs))
    assert {t for t, _, _ in runs} == {"form", "json", "request", "rows"}
    assert all(int(n) > 1000 for _, n, _ in runs), runs
