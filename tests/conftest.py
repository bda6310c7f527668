"""Shared by every pytest module under tests/: the programs a test starts
(bench/demo.py, bench/bench.py, bench/tune.py) import tests.harness.* too, so
the repository root goes on their PYTHONPATH as on the test's sys.path."""

import os

from tests.harness.stack import ROOT

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
