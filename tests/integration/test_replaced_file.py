"""A database file replaced or moved by hand under a running pool, under
load (issue 12's sequence: two workers, WAL, `sqlite3 db ".backup copy"`,
more creations, `mv copy db.sqlite3`, more requests).  The workers must not
acknowledge a user the file at DB_PATH does not keep, nor pair a new file
with the old file's WAL: they answer 503 with the fix, and the file at
DB_PATH holds exactly what it held plus the users answered 2xx after the
replacement, for any program that opens it, from the moment one worker saw
the replacement (it takes the old -wal and -shm off the path)."""

import os
import sqlite3
import subprocess
import sys
import time

from tests.harness.userload import UserLoad
from bench.harness.sqlite_files import insert_users, users_in

SETTINGS = dict(WORKERS=2, HASH_METHOD="sha512crypt", HASH_COST=1000)
# Enough requests after the change for every worker to meet it under load.
ANSWERS_AFTER = 60



def answers_sent_after(load, t):
    with load._lock:
        return [a for a in load.answers if a[2] > t]


def wait_for_answers_after(load, t, count, timeout=30):
    # A bound for a shared 2-core machine; the load answers ~100/s here.
    deadline = time.monotonic() + timeout
    while len(answers_sent_after(load, t)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} answers in {timeout}s"
        time.sleep(0.02)


def load_across(stack, prefix, act):
    """Creations under load; act(load) once 100 are answered, then
    ANSWERS_AFTER answers to requests sent after it.  The load (stopped)
    and the time act returned."""
    load = UserLoad(stack, prefix).start()
    try:
        load.wait_for(100)
        act(load)
        done = time.monotonic()
        wait_for_answers_after(load, done, ANSWERS_AFTER)
    finally:
        load.stop()
    return load, done


def test_a_file_replaced_under_load_is_never_mixed(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    db = s.db_path
    copy = tmp_path / "copy.sqlite3"
    kept = set()

    def replace(load):
        subprocess.run(["sqlite3", str(db), f".backup {copy}"], check=True, timeout=60)
        kept.update(users_in(copy))
        load.wait_for(50)  # these go into the old file only
        os.rename(copy, db)

    load, replaced_at = load_across(s, "r", replace)
    acked_after = load.acked(sent_after=replaced_at)
    statuses = {a[1] for a in answers_sent_after(load, replaced_at)}
    assert statuses <= {200, 503}, statuses
    answer = s.get("/healthz")
    assert answer.status_code == 503
    assert "sqlite-fcgi restore" in answer.text and "DB_PATH-wal" in answer.text, answer.text
    # The first worker that saw the new file took the old file's -wal and
    # -shm off the path: before any restart, whatever opens DB_PATH sees
    # the new file alone, never the old file's last commits on top of it.
    assert "belonged to the replaced database file" in s.app_log()
    assert shell_users(db) == kept | acked_after
    s.stop()
    # SQLite does not checkpoint into a moved file on close: the workers
    # did it themselves, into the old file, through their descriptors.
    assert os.path.exists(f"{db}-replaced")
    assert not os.path.exists(f"{db}-wal")
    assert "the replaced file's WAL is checkpointed into it" in s.app_log()
    s.start()
    assert not os.path.exists(f"{db}-replaced")
    final = users_in(db)
    assert final == kept | acked_after, (
        f"missing: {sorted((kept | acked_after) - final)[:5]},"
        f" not asked for after the replacement: {sorted(final - kept - acked_after)[:5]}")

    # The new pool serves the file that replaced the old one, and counts from it.
    r = s.post("/create_user/", data={"username": "afterrestart", "password": "pw-afterrestart"})
    assert r.status_code == 200, r.text
    assert f"num users: {len(final) + 1}" in r.text, r.text
    assert users_in(db) == final | {"afterrestart"}


def shell_users(db):
    """The usernames an operator's sqlite3 shell sees at db, after its
    integrity_check said ok."""
    result = subprocess.run(["sqlite3", str(db), "PRAGMA integrity_check;"
                             " SELECT username FROM auth_user;"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:1] == ["ok"], lines[:5]
    return set(lines[1:])


# Commits a user in the database at argv[1], then exits without closing
# the connection (as a killed process would): the commit stays in the WAL.
WRITE_AND_DIE = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("INSERT INTO auth_user (password, is_superuser, username, last_name, email,"
            " is_staff, is_active, date_joined, first_name) VALUES ('x', 0,"
            " 'written-then-killed', '', '', 0, 1, '2020-01-01 00:00:00.000', '')")
os._exit(0)
"""


def test_the_path_holds_exactly_the_new_file_once_a_worker_noticed(make_stack, tmp_path):
    """As soon as one worker has seen the replacement, the old file's WAL
    and WAL index are no longer at DB_PATH-wal and -shm: a client opening
    the path (an operator's sqlite3, a backup tool, Litestream) sees the
    new file alone, even while another worker, idle, still has the old
    one open.  The new file is larger than the old one, so that a page
    count read from the old WAL index would make it look corrupt."""
    s = make_stack(**SETTINGS)
    db = s.db_path
    for i in range(20):
        assert s.post("/create_user/", data={"username": f"a{i}", "password": "pw-a"}).status_code == 200
    copy = tmp_path / "copy.sqlite3"
    subprocess.run(["sqlite3", str(db), f".backup {copy}"], check=True, timeout=60)
    insert_users(copy, [f"c{i}" for i in range(3000)])
    for i in range(20):  # commits the old file keeps in its WAL
        assert s.post("/create_user/", data={"username": f"b{i}", "password": "pw-b"}).status_code == 200
    expected = shell_users(copy)
    assert len(expected) == 3020
    os.rename(copy, db)
    assert s.get("/healthz").status_code == 503  # one worker noticed
    assert shell_users(db) == expected
    # Every worker refuses, also the one that had not seen it yet, and the
    # path still holds the new file alone.
    assert {s.get("/healthz").status_code for _ in range(10)} == {503}
    assert shell_users(db) == expected
    # A program that writes to the new file before the restart and dies
    # before it closes leaves its commit in the new file's own WAL: the
    # restart keeps that WAL (only the old file's was to be removed).
    subprocess.run([sys.executable, "-c", WRITE_AND_DIE, str(db)], check=True, timeout=60)
    assert os.path.exists(f"{db}-wal")
    s.stop()
    s.start()
    assert shell_users(db) == expected | {"written-then-killed"}
    r = s.post("/create_user/", data={"username": "after", "password": "pw-after"})
    assert r.status_code == 200 and r.text.endswith("num users: 3022"), r.text


def test_a_file_moved_away_then_replaced_keeps_its_last_commits(make_stack, tmp_path):
    """`mv db old; mv new db` under the pool: the commits still in the old
    WAL are checkpointed into the moved file by the worker that sees the
    replacement (SQLite's close does not checkpoint into a moved file), so
    the moved file holds every user acknowledged before the move."""
    s = make_stack(**SETTINGS)
    db = s.db_path
    names = {f"m{i}" for i in range(30)}
    for name in sorted(names):
        assert s.post("/create_user/", data={"username": name, "password": "pw-" + name}).status_code == 200
    new = tmp_path / "new.sqlite3"
    subprocess.run(["sqlite3", str(db), f".backup {new}"], check=True, timeout=60)
    moved = tmp_path / "moved.sqlite3"
    os.rename(db, moved)
    os.rename(new, db)
    assert s.get("/healthz").status_code == 503
    assert shell_users(moved) == names


def test_a_start_refuses_while_a_worker_has_the_replaced_wal_open(make_stack):
    s = make_stack(**SETTINGS)
    db = s.db_path
    assert s.post("/create_user/", data={"username": "one", "password": "pw-one-one"}).status_code == 200
    holder = sqlite3.connect(db)  # a worker of the old pool, still running
    holder.execute("SELECT count(*) FROM auth_user").fetchall()
    marker = f"{db}-replaced"
    with open(marker, "w") as f:
        f.write("left by a pool that saw the file replaced\n")
    r = s.get("/healthz")
    assert r.status_code == 503 and "restart the pool" in r.text  # a marker alone stops them
    s.stop()
    result = s.run_script("start")
    assert result.returncode != 0
    assert "still have its WAL open" in result.stderr + s.app_log(), result.stderr
    holder.close()  # the last connection: the WAL is checkpointed and removed
    s.start()
    assert not os.path.exists(marker)
    assert s.get("/healthz").status_code == 200


def test_a_file_moved_away_under_load_keeps_every_acknowledged_user(make_stack, tmp_path):
    s = make_stack(**SETTINGS)
    db = s.db_path
    moved = tmp_path / "moved.sqlite3"
    load, moved_at = load_across(s, "m", lambda load: os.rename(db, moved))
    assert load.acked(sent_after=moved_at) == set()  # nothing to keep them in
    assert s.get("/healthz").status_code == 503
    # Moved back: the same file, served again by the same workers, with its
    # last commits still in DB_PATH-wal (SQLite does not checkpoint into a
    # moved file).
    os.rename(moved, db)
    deadline = time.monotonic() + 10  # a margin for the shared machine
    while s.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the file moved back is not served again"
        time.sleep(0.05)
    s.stop()
    assert users_in(db) >= load.acked()
    s.start()
    r = s.post("/create_user/", data={"username": "back", "password": "pw-back-back"})
    assert r.status_code == 200, r.text
    assert "back" in users_in(db)
