"""make demo, shortened (10 users, 5 s per configuration): the failure and the fix.

Runs bench/demo.py into a temporary directory, then checks, from
locust's CSV files and from the server's own records (the SQLite file and
nginx's access log), that the Django defaults fail with "database is locked"
503s, that the tuned profile and the PostgreSQL row do not fail at all, and
that in every configuration each user in the database is a 2xx answer in the
access log and the other way round (counted after the requests in flight
finished). The PostgreSQL server is the demo's own and is gone when it
returns: that row's user count is the one the demo read from it (psql),
checked against nginx's log here.
"""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import locust
from tests.harness.accesslog import create_statuses
from tests.harness.sqlite_files import user_count

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "bench" / "demo.py"
CONFIGS = ["django-default", "wal-only", "immediate-only", "wal-busy",
           "wal-busy-immediate", "tuned", "postgresql"]
USERS = 10
DURATION = "5s"
# 7 x (5 s of load + start, drain and stop) and PostgreSQL's initdb + start
# (about 3 s): about 45 s on 2 cores shared with other work.
DEMO_TIMEOUT_S = 130

@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, str(DEMO), "--users", str(USERS), "--duration", DURATION,
         "--out", str(out)],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, f"demo.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def locust_total(cfg_dir):
    """Requests and failures of /create_user/ in the run, from locust's stats CSV."""
    t = locust.totals(cfg_dir / "locust", "create_user/")
    return t.requests, t.failures


def locust_failures(cfg_dir):
    return locust.failures(cfg_dir / "locust", "create_user/")


def nginx_statuses(cfg_dir):
    return create_statuses(cfg_dir / "run" / "access.log")


def users_in_db(cfg_dir):
    if cfg_dir.name == "postgresql":
        rows = {r["configuration"]: r for r in locust.read_csv(cfg_dir.parent / "results.csv")}
        return int(rows["postgresql"]["users_in_db"])
    return user_count(cfg_dir / "db.sqlite3")


def test_django_default_fails_with_database_is_locked(demo_out):
    cfg = demo_out / "django-default"
    requests, failures = locust_total(cfg)
    errors = locust_failures(cfg)
    statuses = nginx_statuses(cfg)
    assert failures > 0, "the Django defaults did not fail under load"
    assert set(errors) == {"503 database is locked"}, errors
    assert sum(errors.values()) == failures
    # The server says the same: one 503 per failure, and SQLITE_BUSY in its log.
    assert statuses[503] == failures, statuses
    assert "database is locked" in (cfg / "run" / "app.log").read_text()
    assert requests > failures


def test_tuned_has_no_failures(demo_out):
    cfg = demo_out / "tuned"
    requests, failures = locust_total(cfg)
    assert requests > 0
    assert failures == 0, locust_failures(cfg)
    assert locust_failures(cfg) == Counter()
    assert set(nginx_statuses(cfg)) == {200}


def test_postgresql_row_ran_on_postgresql_without_failures(demo_out):
    cfg = demo_out / "postgresql"
    # The workers' own account of their settings: PostgreSQL, password masked.
    config = (cfg / "config.txt").read_text()
    assert "-- engine: postgresql" in config, config
    assert "password=***" in config
    assert not (cfg / "db.sqlite3").exists(), "the postgresql row wrote a SQLite file"
    requests, failures = locust_total(cfg)
    assert requests > 0
    assert failures == 0, locust_failures(cfg)
    assert set(nginx_statuses(cfg)) == {200}


@pytest.mark.parametrize("config", CONFIGS)
def test_every_user_in_the_database_was_answered_2xx(demo_out, config):
    cfg = demo_out / config
    requests, failures = locust_total(cfg)
    statuses = nginx_statuses(cfg)
    nginx_2xx = sum(n for s, n in statuses.items() if 200 <= s < 300)
    users = users_in_db(cfg)
    assert users > 0, f"{config}: no user created at all"
    # No lost write, and no write without an answer.
    assert users == nginx_2xx, f"{config}: {users} users, nginx statuses {dict(statuses)}"
    # Every success locust counted reached nginx's log, and nothing more;
    # every request nginx saw was answered to locust (none cut off: no 499).
    assert requests - failures == nginx_2xx
    assert sum(statuses.values()) == requests, dict(statuses)
    assert 499 not in statuses


def test_report_agrees_with_the_records(demo_out):
    rows = {r["configuration"]: r for r in locust.read_csv(demo_out / "results.csv")}
    assert list(rows) == CONFIGS
    for config, row in rows.items():
        cfg = demo_out / config
        requests, failures = locust_total(cfg)
        assert row["problem"] == ""
        assert (int(row["requests"]), int(row["failures"])) == (requests, failures)
        assert int(row["users_in_db"]) == users_in_db(cfg)
        assert int(row["nginx_2xx"]) == sum(n for s, n in nginx_statuses(cfg).items() if 200 <= s < 300)
    table = (demo_out / "results.md").read_text()
    assert all(f"| {c} " in table for c in CONFIGS)
    assert (demo_out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reads_run_beside_the_writes(demo_out):
    """--readers 1 (the default): a reading user beside each writing one."""
    rows = {r["configuration"]: r for r in locust.read_csv(demo_out / "results.csv")}
    for config in CONFIGS:
        t = locust.totals(demo_out / config / "locust", "users/")
        assert int(rows[config]["reads"]) == t.requests > 0, config
        assert int(rows[config]["read_failures"]) == t.failures
    # WAL: readers are never blocked by the writer, and never fail.
    assert int(rows["tuned"]["read_failures"]) == 0
    assert "read p99 (ms)" in (demo_out / "results.md").read_text()
