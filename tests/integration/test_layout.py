"""Who owns what: every setting's default is the binary's own (app/src/config.c,
printed by `sqlite-fcgi config`), and no script, Makefile, compose or
settings file restates it; the tools in bench/ stand on their own, importing
nothing from tests/ (the tests import bench/harness/, not the reverse) and
running without PYTHONPATH."""

import ast
import os
import re
import subprocess
import sys

import pytest

from bench.harness.paths import ROOT
from bench.harness.settings import effective

# Defaults that depend on the machine or on another setting: not literals to look for.
COMPUTED = {"WORKERS", "METRICS_PATH"}
# Where a default is restated on purpose, and why.
ALLOWED = {
    # The host port compose publishes nginx's on: compose reads it before
    # any container (or binary) runs.
    ("docker-compose.yml", "PORT"),
}


def tracked():
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                         check=True).stdout
    return [f for f in out.split() if (ROOT / f).is_file()]


def is_shell(path):
    if path.endswith(".sh"):
        return True
    try:
        with open(ROOT / path, errors="replace") as f:
            return re.match(r"#!.*[/ ](ba|da)?sh( |$)", f.readline()) is not None
    except OSError:
        return False


def configuration_files():
    """The files that set settings: scripts, the Makefile and its parts,
    Dockerfiles, compose files and the settings files they read."""
    return [f for f in tracked() if not f.startswith(("app/", "tests/unit/", "docs/"))
            and (is_shell(f) or f == "Makefile" or f.endswith(".mk")
                 or os.path.basename(f).startswith(("Dockerfile", "docker-compose", ".env")))]


def defaults():
    """{NAME: {value, ...}}: each setting's written default, in both profiles."""
    found = {}
    for profile in ("tuned", "django-default"):
        for name, value in effective({"SQLITE_PROFILE": profile}).items():
            if value and name not in COMPUTED:
                found.setdefault(name, set()).add(value)
    return found


def restatements(text, name, value):
    """Lines of text that give name the value as a default or a setting:
    ${NAME:-VALUE}, NAME=VALUE, NAME ?= VALUE, NAME := VALUE, NAME: VALUE."""
    v = re.escape(value)
    q = "[\"']?"
    patterns = [
        rf"\$\{{{name}:?[-=]{q}{v}{q}\}}",
        rf"(?:^|[\s;(]){name}\s*[?:]?=\s*{q}{v}{q}(?=\s|$|[;)])",
        rf"^\s*-?\s*{name}:\s*{q}{v}{q}\s*(?:#|$)",
    ]
    lines = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        if any(re.search(p, line) for p in patterns):
            lines.append(f"{n}: {line.strip()}")
    return lines


def test_the_scan_finds_a_restated_default():
    """The patterns below catch each form a restatement takes."""
    for text in ("DB_PATH=${DB_PATH:-var/db.sqlite3}", "PORT ?= 8000", "export PORT=8000",
                 "      SQLITE_PROFILE: ${SQLITE_PROFILE:-tuned}", "POOL_TIMEOUT=30",
                 "  MULTIWATCH_RETRIES: 10"):
        name, value = re.search(r"([A-Z_]{4,})\W.*?(var/db.sqlite3|8000|tuned|30|10)\W*$",
                                text).groups()
        assert restatements(text, name, value), text
    assert not restatements("# PORT=8000 in a comment", "PORT", "8000")
    assert not restatements("PORT=18000", "PORT", "8000")


def test_no_script_restates_a_default_of_the_binary():
    found = []
    settings = defaults()
    assert {"DB_PATH", "PORT", "POOL_TIMEOUT", "SQLITE_PROFILE"} <= set(settings)
    files = configuration_files()
    assert {"Makefile", "deploy/local/stack.sh", "deploy/pool/workers.sh",
            "docker-compose.yml"} <= set(files)
    for path in files:
        text = (ROOT / path).read_text(errors="replace")
        for name, values in settings.items():
            if (path, name) in ALLOWED:
                continue
            for value in values:
                found += [f"{path}:{line}" for line in restatements(text, name, value)]
    assert not found, ("defaults restated outside app/src/config.c (ask the binary, "
                       "`sqlite-fcgi config`, instead):\n" + "\n".join(found))


def bench_sources():
    return sorted((ROOT / "bench").rglob("*.py"))


def test_bench_imports_nothing_from_tests():
    """The tools and their harness import no module of tests/, and name no
    file under it."""
    found = []
    for path in bench_sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value == "tests" or node.value.startswith("tests/"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: import {n}"
                      for n in names if n == "tests" or n.startswith("tests.")]
    assert len(bench_sources()) > 10
    assert not found, "\n".join(found)


@pytest.mark.parametrize("tool", ["demo.py", "compare.py"])
def test_tools_run_without_pythonpath(tmp_path, tool):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / tool), "--help"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
