"""GET /users/ and /users/count against the real stack: newest first, paged,
never the hash, bad parameters refused by name, and a read answered while
another program holds the write lock (the lock file and SQLite's)."""

import fcntl
import sqlite3
import time

import pytest

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def users_stack(tmp_path_factory):
    from bench.harness.stack import Stack
    s = Stack(tmp_path_factory.mktemp("users"), WORKERS=2, HASH_METHOD="sha512crypt",
              HASH_COST=1000).start()
    for i in range(15):
        r = s.post("/create_user/", data={"username": f"u{i:02d}", "password": "pw"})
        assert r.status_code == 200, r.text
    yield s
    s.stop()


def test_newest_first_paged_without_the_hash(users_stack):
    s = users_stack
    rows = s.query("SELECT id, username, date_joined FROM auth_user ORDER BY id DESC")
    r = s.get("/users/", headers=JSON)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    page = r.json()
    assert page["count"] == 15
    assert [tuple(u.values()) for u in page["users"]] == rows[:10]
    assert all(list(u) == ["id", "username", "date_joined"] for u in page["users"])
    assert "password" not in r.text and "$6$" not in r.text
    assert page["next_after_id"] == rows[9][0]
    r = s.get(f"/users/?after_id={page['next_after_id']}&limit=10", headers=JSON)
    rest = r.json()
    assert [u["id"] for u in rest["users"]] == [row[0] for row in rows[10:]]
    assert rest["next_after_id"] is None
    assert len(s.get("/users/?limit=100", headers=JSON).json()["users"]) == 15
    assert [u["username"] for u in s.get("/users/?limit=1", headers=JSON).json()["users"]] == ["u14"]


def test_text_unless_json_is_asked_for(users_stack):
    r = users_stack.get("/users/?limit=2")
    assert r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert lines[0] == "num users: 15"
    assert [l.split()[1] for l in lines[1:]] == ["u14", "u13"]
    assert users_stack.get("/users/count").text == "15\n"
    assert users_stack.get("/users/count", headers=JSON).json() == {"count": 15}


@pytest.mark.parametrize("query,message", [
    ("limit=0", "limit: must be a whole number from 1 to 100"),
    ("limit=101", "limit: must be a whole number from 1 to 100"),
    ("limit=ten", "limit: must be a whole number from 1 to 100"),
    ("limit=", "limit: must be a whole number from 1 to 100"),
    ("limit=-1", "limit: must be a whole number from 1 to 100"),
    ("after_id=0", "after_id: must be a user id (a whole number from 1)"),
    ("after_id=99999999999999999999", "after_id: must be a user id (a whole number from 1)"),
    ("limit=1&limit=2", "limit: given more than once"),
    ("username=u01", "unknown query parameter: expected limit, after_id"),
])
def test_bad_parameters_are_400_by_name(users_stack, query, message):
    r = users_stack.get(f"/users/?{query}")
    assert (r.status_code, r.text) == (400, message + "\n")


def test_reads_never_wait_for_the_write_lock(users_stack):
    s = users_stack
    lock = open(f"{s.db_path}-writelock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    con = sqlite3.connect(s.db_path, timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO auth_user (password, is_superuser, username, last_name, email,"
                " is_staff, is_active, date_joined, first_name)"
                " VALUES ('x', 0, 'uncommitted', '', '', 0, 1, '2020-01-01', '')")
    try:
        start = time.monotonic()
        r = s.get("/users/", headers=JSON)
        seconds = time.monotonic() - start
        # A writer here would wait the 5 s busy timeout and fail: a read
        # answers at once (2 s of margin for a loaded machine).
        assert r.status_code == 200 and seconds < 2, (r.status_code, seconds)
        assert r.json()["count"] == 15, "a read saw an uncommitted user"
    finally:
        con.execute("ROLLBACK")
        con.close()
        lock.close()
