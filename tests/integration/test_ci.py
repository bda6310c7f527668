"""Under CI (CI=true) a skipped test fails the run (tests/conftest.py)."""

import os
import subprocess
import sys

from bench.harness.stack import ROOT

SKIPPING = """
import pytest

def test_needs_something():
    pytest.skip("something not installed")

def test_runs():
    assert True
"""


def run_pytest(tmp_path, ci):
    test = tmp_path / "test_skipping.py"
    test.write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.conftest", "--rootdir", str(tmp_path), str(test)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_a_skip_is_a_failure_under_ci(tmp_path):
    run = run_pytest(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "1 failed, 1 passed" in run.stdout
    assert "skipped under CI, where every test must run: Skipped: something not installed" \
        in run.stdout


def test_a_skip_stays_a_skip_elsewhere(tmp_path):
    for ci in (None, "false"):
        run = run_pytest(tmp_path, ci)
        assert run.returncode == 0, run.stdout
        assert "1 passed, 1 skipped" in run.stdout
