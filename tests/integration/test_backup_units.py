"""The backup's systemd units as make install lays them out: they verify
with systemd-analyze, and the service's command, run as the unit runs it
(its Environment= defaults, ${VAR} expanded), makes checked backups and
keeps the newest BACKUP_KEEP of them."""

import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from test_install import make
from bench.harness.sqlite_files import users_in
from tests.harness.unitfile import unit_commands, unit_environment

SERVICE = "etc/systemd/system/sqlite-fcgi-backup.service"
TIMER = "etc/systemd/system/sqlite-fcgi-backup.timer"
STAMPED = re.compile(r"db\.sqlite3\.\d{8}T\d{6}Z")
# Copies from earlier days, stamped as the backup stamps them.
OLD_COPIES = ("db.sqlite3.20200101T000000Z", "db.sqlite3.20210101T000000Z",
              "db.sqlite3.20220101T000000Z")


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


def next_second():
    """Waits until the wall clock enters its next second (a second at most):
    a backup started then gets a stamp of its own."""
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.01)


def stamped(directory):
    """The stamped copies of db.sqlite3 in directory, oldest first."""
    return sorted(p.name for p in directory.iterdir() if STAMPED.fullmatch(p.name))


def test_backup_service_command_makes_checked_copies_and_keeps_the_newest(staged, tmp_path):
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
    # Copies from earlier days, and files that are not copies of this DEST:
    # pruning removes the first (the oldest first) and never the rest.
    for name in OLD_COPIES:
        shutil.copy(db, backups / name)
    others = ["db.sqlite3.20190101T000000Z.tmp", "db.sqlite3.2019", "other.sqlite3.20190101T000000Z"]
    for name in others:
        (backups / name).write_text("not a copy of this database\n")
    argv = service_argv(service, env, binary)
    made = []
    for n in range(1, 4):
        con = sqlite3.connect(db)
        con.execute("INSERT INTO auth_user (password, is_superuser, username, first_name,"
                    " last_name, email, is_staff, is_active, date_joined)"
                    " VALUES ('x', 0, ?, '', '', '', 0, 1, '2020-01-01')", (f"u{n}",))
        con.commit()
        con.close()
        next_second()
        before = set(stamped(backups))
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        new = set(stamped(backups)) - before
        assert len(new) == 1, (before, stamped(backups))
        made += new
        # The copy just made is the newest, and only the newest BACKUP_KEEP are left.
        assert stamped(backups) == sorted(set(OLD_COPIES) | set(made))[-2:], result.stderr
    # Both kept copies are this run's, and each holds what the database held then.
    assert stamped(backups) == made[-2:]
    assert users_in(backups / made[-1]) == {"u1", "u2", "u3"}
    assert users_in(backups / made[-2]) == {"u1", "u2"}
    assert all((backups / name).exists() for name in others)


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
