"""The backup's systemd units as make install lays them out: they verify
with systemd-analyze, and the service's command, run as the unit runs it
(its Environment= defaults, ${VAR} expanded), makes a checked backup."""

import re
import shutil
import sqlite3
import subprocess

import pytest

from test_install import make
from tests.harness.unitfile import unit_commands, unit_environment

SERVICE = "etc/systemd/system/sqlite-fcgi-backup.service"
TIMER = "etc/systemd/system/sqlite-fcgi-backup.timer"


def service_argv(service, env, binary):
    """The service's ExecStart as systemd runs it: ${VAR} from env, the
    program at binary (under DESTDIR here)."""
    [argv] = unit_commands(service)["ExecStart"]
    argv = [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], a) for a in argv]
    return [str(binary), *argv[1:]]


@pytest.fixture
def staged(tmp_path):
    dest = tmp_path / "stage"
    make("install", dest)
    return dest


def test_backup_units_are_installed_and_verify(staged, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    service = (staged / SERVICE).read_text()
    assert "@PREFIX@" not in service
    timer = (staged / TIMER).read_text()
    assert "OnCalendar=daily" in timer.splitlines() and "Persistent=true" in timer.splitlines()
    d = tmp_path / "units"
    d.mkdir()
    # The unit names its program under PREFIX; here it is under DESTDIR.
    (d / "sqlite-fcgi-backup.service").write_text(
        service.replace("/usr/bin/sqlite-fcgi", f"{staged}/usr/bin/sqlite-fcgi"))
    (d / "sqlite-fcgi-backup.timer").write_text(timer)
    for unit in ("sqlite-fcgi-backup.service", "sqlite-fcgi-backup.timer"):
        result = subprocess.run(["systemd-analyze", "verify", str(d / unit)],
                                capture_output=True, text=True, cwd=d)
        assert result.returncode == 0 and result.stderr == "", result.stderr


def test_backup_service_command_makes_a_checked_copy(staged, tmp_path):
    service = (staged / SERVICE).read_text()
    env = unit_environment(service)
    assert env["BACKUP_KEEP"] == "7"
    # The settings file would point these elsewhere; here, at a temporary directory.
    db = tmp_path / "db.sqlite3"
    backups = tmp_path / "backup"
    backups.mkdir()
    env.update(DB_PATH=str(db), BACKUP_DEST=str(backups / "db.sqlite3"), BACKUP_KEEP="2")
    binary = staged / "usr/bin/sqlite-fcgi"
    subprocess.run([str(binary), "migrate"], env=env, check=True, capture_output=True)
    argv = service_argv(service, env, binary)
    for _ in range(3):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    copies = sorted(backups.iterdir())
    # Three runs within a second or two: one or two names (one a second), at most BACKUP_KEEP.
    assert 1 <= len(copies) <= 2, copies
    assert all(re.fullmatch(r"db\.sqlite3\.\d{8}T\d{6}Z", p.name) for p in copies), copies
    con = sqlite3.connect(copies[-1])
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1
    con.close()


def test_backup_service_refuses_a_postgresql_database(staged, tmp_path):
    """With DATABASE_URL=postgres://... in the settings file the unit fails,
    naming pg_dump, instead of copying a leftover SQLite file every day."""
    service = (staged / SERVICE).read_text()
    env = unit_environment(service)
    db = tmp_path / "db.sqlite3"
    binary = staged / "usr/bin/sqlite-fcgi"
    env.update(DB_PATH=str(db), BACKUP_DEST=str(tmp_path / "copy.sqlite3"))
    subprocess.run([str(binary), "migrate"], env=env, check=True, capture_output=True)
    env["DATABASE_URL"] = "postgres://sqlitefcgi:pw@127.0.0.1:1/sqlitefcgi"
    argv = service_argv(service, env, binary)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "pg_dump" in result.stderr, result.stderr
    assert not list(tmp_path.glob("copy.sqlite3*"))
