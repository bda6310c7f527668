"""sqlite-fcgi backup and restore while the pool takes load: the copy is
consistent and complete, a restore replaces the live content at once, and
bad sources are refused without touching the live database."""

import os
import sqlite3
import subprocess
import time

from bench.harness.stack import BINARY
from tests.harness.userload import UserLoad
from bench.harness.sqlite_files import users_in

SETTINGS = dict(WORKERS=3, HASH_METHOD="sha512crypt", HASH_COST=1000)


def run_cli(stack, *args):
    return subprocess.run([str(BINARY), *args], env=stack.env, capture_output=True,
                          text=True, timeout=120)



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
