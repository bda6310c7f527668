"""Shared by every pytest module under tests/: under CI a skip is a failure.
(The tools a test starts, bench/*.py, find their harness beside them: they
need no PYTHONPATH.)"""

import os

import pytest


def under_ci():
    """CI=true (GitHub Actions, GitLab CI and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test is a failed one: whatever it needs (root, a
    tool) is installed by `make deps` there, so a skip means a claim went
    untested. Elsewhere a skip stays a skip, with its reason."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and under_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"
