"""Under CI (CI=true) a skipped test fails the run (tests/conftest.py)."""

import os
import shutil
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


def test_ci_run_sets_ci_itself(tmp_path):
    """`bash .ci/run` from a shell without CI fails on a skip, as CI does: the
    real script, run by the real make, in a copy of the tree whose Makefile
    runs the skipping test as its `test` target."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    pytest = (f"{sys.executable} -m pytest -q -p no:cacheprovider -p tests.conftest"
              f" --rootdir {tmp_path} {tmp_path / 'test_skipping.py'}")
    (tmp_path / "Makefile").write_text(
        "deps:\n\techo \"deps CI=$$CI\" >>steps\n"
        f"test:\n\techo \"test CI=$$CI\" >>steps\n\tcd {ROOT} && {pytest}\n"
        "test-compose:\n\techo \"test-compose CI=$$CI\" >>steps\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MAKEFLAGS", "MAKELEVEL")}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0, run.stdout
    assert "skipped under CI, where every test must run" in run.stdout, run.stdout
    # make test failed, so make test-compose never ran.
    assert (tmp_path / "steps").read_text() == "deps CI=true\ntest CI=true\n"
