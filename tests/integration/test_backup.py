"""sqlite-fcgi backup and restore while the pool takes load: the copy is
consistent and complete, a restore replaces the live content at once, and
bad sources are refused without touching the live database."""

import os
import sqlite3
import stat
import subprocess
import time

import pytest

from bench.harness.settings import without_settings
from bench.harness.stack import BINARY
from tests.harness.userload import UserLoad
from bench.harness.sqlite_files import users_in

SETTINGS = dict(WORKERS=3, HASH_METHOD="sha512crypt", HASH_COST=1000)


def run_cli(stack, *args):
    return subprocess.run([str(BINARY), *args], env=stack.env, capture_output=True,
                          text=True, timeout=120)


def cli(db, *args, umask=0o022, **settings):
    """The command on the database at db, without a pool, under umask."""
    env = without_settings(os.environ)
    env.update(DB_PATH=str(db), **settings)
    return subprocess.run([str(BINARY), *args], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=lambda: os.umask(umask))


def migrated(db, **settings):
    result = cli(db, "migrate", **settings)
    assert result.returncode == 0, result.stderr
    return db


def test_backup_under_load_holds_every_user_acknowledged_before(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    load = UserLoad(s, "bk").start()
    try:
        load.wait_for(100)
        before = load.acked()
        dest = tmp_path / "backups" / "db.sqlite3"
        dest.parent.mkdir()
        result = run_cli(s, "backup", str(dest))
        load.wait_for(20)  # the pool kept serving
    finally:
        load.stop()
    assert result.returncode == 0, result.stderr
    copied = users_in(dest)
    assert before <= copied, f"acknowledged before the backup, missing: {sorted(before - copied)[:5]}"
    assert copied <= load.all_names()  # nothing the load did not ask for
    assert len(copied) < len(load.acked())  # a snapshot, not a copy taken after the load
    con = sqlite3.connect(dest)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    con.close()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["db.sqlite3"]  # no temporary left
    assert s.query("PRAGMA integrity_check") == [("ok",)]


def test_backup_keep_prunes_the_oldest(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    assert s.get("/create_user/").status_code == 200
    dest = tmp_path / "db.sqlite3"
    old = [tmp_path / f"db.sqlite3.2020010{i}T000000Z" for i in (1, 2, 3)]
    for p in old:
        p.write_text("an older backup")
    (tmp_path / "db.sqlite3.notes").write_text("not a backup: left alone")
    result = run_cli(s, "backup", str(dest), "--keep", "2")
    assert result.returncode == 0, result.stderr
    kept = sorted(p.name for p in tmp_path.glob("db.sqlite3.*"))
    assert len(kept) == 3 and kept[0] == old[2].name and kept[2] == "db.sqlite3.notes", kept
    assert len(users_in(tmp_path / kept[1])) == 1
    assert run_cli(s, "backup", str(dest), "--keep", "0").returncode == 2


def test_restore_under_load_serves_the_restored_data(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    snapshot = tmp_path / "snapshot.sqlite3"
    first = UserLoad(s, "a").start()
    try:
        first.wait_for(50)
    finally:
        first.stop()
    assert run_cli(s, "backup", str(snapshot)).returncode == 0
    kept = users_in(snapshot)
    assert kept == first.acked()
    load = UserLoad(s, "b").start()
    try:
        load.wait_for(50)  # users the restore will take away
        result = run_cli(s, "restore", str(snapshot))
        restored = time.monotonic()
        load.wait_for(50)  # served from the restored data
    finally:
        load.stop()
    assert result.returncode == 0, result.stderr
    after = load.acked(sent_after=restored)
    in_db = {n for (n,) in s.query("SELECT username FROM auth_user")}
    assert s.query("PRAGMA integrity_check") == [("ok",)]
    assert kept <= in_db
    assert after <= in_db, f"acknowledged after the restore, missing: {sorted(after - in_db)[:5]}"
    # What was created between the snapshot and the restore is gone, except
    # what the restore's own transaction waited for.
    assert in_db <= kept | load.all_names()
    assert len(in_db) < len(kept) + len(load.acked())
    # The workers count from the restored file, not from a stale view of the old one.
    r = s.post("/create_user/", data={"username": "final", "password": "pw-final"})
    assert r.status_code == 200
    assert r.text.endswith(f"num users: {s.user_count()}"), r.text


def test_restore_refuses_a_bad_source_and_changes_nothing(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    assert s.get("/create_user/").status_code == 200
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(8192))
    other = tmp_path / "other.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.close()
    for src, why in ((junk, "not a database"), (other, "not a database of this service"),
                     (tmp_path / "missing", "cannot open")):
        result = run_cli(s, "restore", str(src))
        assert result.returncode == 1 and why in result.stderr, result.stderr
    assert s.user_count() == 1
    assert s.get("/create_user/").status_code == 200


def swap_index_roots(path):
    """Makes path malformed in the way a torn copy can be while it still
    opens and reads: an index added beside the username's, then the two
    indexes' root pages swapped in the schema, so that each index holds
    the other's entries (integrity_check: "row N missing from index")."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE INDEX swapped ON auth_user(email)")
        con.commit()
        roots = dict(con.execute("SELECT name, rootpage FROM sqlite_schema WHERE type = 'index'"
                                 " AND tbl_name = 'auth_user'").fetchall())
        unique = next(name for name in roots if name != "swapped")
        con.execute("PRAGMA writable_schema = ON")
        con.execute("UPDATE sqlite_schema SET rootpage = CASE name WHEN 'swapped' THEN ? ELSE ? END"
                    " WHERE name IN ('swapped', ?)", (roots[unique], roots["swapped"], unique))
        con.commit()
    finally:
        con.close()


def test_restore_refuses_a_source_that_fails_integrity_check(make_stack, tmp_path):
    """A copy that opens and reads but is malformed (what a restore read
    beside a writer can give, docs/durability.md) is refused by name, and
    the live database keeps its content."""
    s = make_stack(**SETTINGS)
    for _ in range(3):
        assert s.get("/create_user/").status_code == 200
    copy = tmp_path / "copy.sqlite3"
    assert run_cli(s, "backup", str(copy)).returncode == 0
    swap_index_roots(copy)
    result = run_cli(s, "restore", str(copy))
    assert result.returncode == 1 and "integrity_check" in result.stderr, result.stderr
    assert s.user_count() == 3
    assert s.get("/create_user/").text == "User created, num users: 4"


def test_backup_and_restore_refuse_the_live_database_and_its_files(make_stack, tmp_path):
    """A backup renamed over the live file (or one of its side files) would
    leave the pool serving a replaced file (503 until a restart) and lose
    the commits made since the snapshot: refused, whatever the name
    (another path to the same directory, a link), before anything is written."""
    s = make_stack(**SETTINGS)
    assert s.get("/create_user/").status_code == 200
    db = s.db_path
    alias = tmp_path / "alias"
    alias.symlink_to(db.parent)  # another path to the same directory
    os.link(db, tmp_path / "hardlink")
    (tmp_path / "symlink").symlink_to(db)
    for dest in (db, alias / db.name, tmp_path / "hardlink", tmp_path / "symlink",
                 f"{db}-wal", f"{alias / db.name}-shm", f"{db}-writelock",
                 f"{db}-replaced", f"{db}-journal"):
        result = run_cli(s, "backup", str(dest))
        assert result.returncode == 2 and "refused" in result.stderr \
            and "live database" in result.stderr, (dest, result.returncode, result.stderr)
        assert not os.path.exists(f"{db}-replaced"), dest
    for src in (db, tmp_path / "hardlink", f"{db}-wal"):
        result = run_cli(s, "restore", str(src))
        assert result.returncode == 2 and "refused" in result.stderr, (src, result.stderr)
    assert s.get("/healthz").status_code == 200
    assert s.get("/create_user/").text == "User created, num users: 2"
    assert s.query("PRAGMA integrity_check") == [("ok",)]


def test_backup_and_restore_refuse_a_postgresql_database(tmp_path):
    """With DATABASE_URL naming PostgreSQL the SQLite file at DB_PATH is a
    leftover: copying it would make a timer succeed daily while backing up
    nothing that matters.  Refused, naming pg_dump; no server is needed to
    refuse."""
    db = migrated(tmp_path / "stale.sqlite3")
    url = dict(DATABASE_URL="postgres://sqlitefcgi:secret@127.0.0.1:1/sqlitefcgi")
    for args in (("backup", str(tmp_path / "copy.sqlite3")),
                 ("backup", str(tmp_path / "copy.sqlite3"), "--keep", "3"),
                 ("restore", str(db))):
        result = cli(db, *args, **url)
        assert result.returncode == 2, (args, result.stderr)
        assert "PostgreSQL" in result.stderr and "pg_dump" in result.stderr, result.stderr
        assert "secret" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stale.sqlite3"]


def test_a_backup_keeps_the_database_mode_and_owner(tmp_path):
    """Run by hand under umask 022, SQLite would create the copy 0644 while
    the database is 0640: the copy gets the database's mode, and its owner
    when run as root; a restore leaves the live file's own."""
    db = migrated(tmp_path / "db.sqlite3")
    os.chmod(db, 0o640)
    if os.geteuid() == 0:
        os.chown(db, 65534, 65534)
    live = os.stat(db)
    copy = tmp_path / "copy.sqlite3"
    result = cli(db, "backup", str(copy), umask=0o022)
    assert result.returncode == 0, result.stderr
    made = os.stat(copy)
    assert stat.S_IMODE(made.st_mode) == 0o640
    assert (made.st_uid, made.st_gid) == (live.st_uid, live.st_gid)
    kept = cli(db, "backup", str(tmp_path / "kept.sqlite3"), "--keep", "1", umask=0)
    assert kept.returncode == 0, kept.stderr
    [stamped] = tmp_path.glob("kept.sqlite3.*")
    assert stat.S_IMODE(os.stat(stamped).st_mode) == 0o640
    result = cli(db, "restore", str(copy), umask=0)
    assert result.returncode == 0, result.stderr
    after = os.stat(db)
    assert (stat.S_IMODE(after.st_mode), after.st_uid) == (0o640, live.st_uid)


def hold_then_time(db, begin, *args):
    """Runs the command while another connection holds a lock (begin: its
    BEGIN), and returns the result and the seconds it took."""
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute(begin)
        start = time.monotonic()
        result = cli(db, *args)
        return result, time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("profile,begin,command", [
    # A restore waits for the write lock of a WAL database.
    ("tuned", "BEGIN IMMEDIATE", "restore"),
    # A backup of a rollback-journal database waits to read while a writer
    # holds the exclusive lock.
    ("django-default", "BEGIN EXCLUSIVE", "backup"),
])
def test_the_wait_for_a_lock_is_bounded_by_wait(tmp_path, profile, begin, command):
    """--wait bounds the whole command's waits (30 s by default, as
    docs/durability.md says; the busy handler and the backup's own retries
    used to wait that long each, one after the other)."""
    db = migrated(tmp_path / "db.sqlite3", SQLITE_PROFILE=profile)
    copy = tmp_path / "copy.sqlite3"
    assert cli(db, "backup", str(copy)).returncode == 0
    target = str(copy) if command == "restore" else str(tmp_path / "new.sqlite3")
    result, seconds = hold_then_time(db, begin, command, target, "--wait", "3")
    assert result.returncode == 1 and "still locked" in result.stderr, result.stderr
    # 3 s, and not twice that: 1.5 s of margin for a loaded machine.
    assert 3 <= seconds < 4.5, seconds
    assert not (tmp_path / "new.sqlite3").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "tmp" in p.name) == []
