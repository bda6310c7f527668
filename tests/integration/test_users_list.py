"""GET /users/ and /users/count against the real stack: newest first, paged,
never the hash, bad parameters refused by name, and a read answered while
another program holds the write lock (the lock file and SQLite's)."""

import fcntl
import sqlite3
import time

import pytest

from bench.harness.sqlite_files import insert_users

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


def two_of(alphabet, i):
    return alphabet[i // len(alphabet)] + alphabet[i % len(alphabet)]


BOLD = [chr(c) for c in range(0x1D400, 0x1D434)]  # four bytes each in UTF-8
CONTROL = [chr(c) for c in range(1, 0x20) if chr(c) not in "\n\r"]  # \u00XX each in JSON


@pytest.mark.parametrize("name_of", [
    # Django's longest username: 150 letters of four bytes each.
    lambda i: BOLD[0] * 148 + two_of(BOLD, i),
    # The worst case for JSON, whatever Django would store: the 600 bytes a
    # row keeps, each escaped as six.
    lambda i: CONTROL[0] * 598 + two_of(CONTROL, i),
], ids=["150-four-byte-letters", "600-control-characters"])
def test_a_full_page_of_the_longest_names_is_answered_whole(make_stack, name_of):
    s = make_stack(WORKERS=1)
    names = [name_of(i) for i in range(100)]
    insert_users(s.db_path, names)
    r = s.get("/users/?limit=100", headers=JSON)
    assert r.status_code == 200, r.text[:200]
    page = r.json()
    assert [u["username"] for u in page["users"]] == names[::-1]
    assert page["count"] == 100 and page["next_after_id"] == page["users"][-1]["id"]
    r = s.get("/users/?limit=100")
    assert r.status_code == 200 and r.text.count("\n") == 101, r.text[:200]


def test_a_deep_page_on_postgresql_searches_the_primary_key(postgres_server, make_stack):
    """PostgreSQL may run the page statement with one generic plan for all
    pages (its plan cache chooses one after five executions; forced here):
    a deep page must still be an index condition on the primary key, not a
    walk from the newest row through a filter.  auto_explain logs the plan
    the worker's own session ran."""
    pg = postgres_server
    db = pg.new_database()
    for setting in ("session_preload_libraries = 'auto_explain'",
                    "auto_explain.log_min_duration = 0", "auto_explain.log_analyze = on",
                    "plan_cache_mode = force_generic_plan"):
        pg.psql(f"ALTER DATABASE {db} SET {setting}")
    s = make_stack(DATABASE_URL=pg.url(db), WORKERS=1, HASH_METHOD="sha512crypt",
                   HASH_COST=1000)
    pg.psql("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) SELECT 'x', false, 'u' || i, '', '',"
            " '', false, true, now() FROM generate_series(1, 300000) i", db)
    log = pg.dir / "server.log"
    seen = log.stat().st_size
    r = s.get("/users/?after_id=3&limit=2", headers=JSON)
    assert [u["username"] for u in r.json()["users"]] == ["u2", "u1"]
    with open(log, errors="replace") as f:
        f.seek(seen)
        plans = f.read()
    page = plans[max(0, plans.index("auth_user_pkey") - 300):]
    assert "Index Cond: (id <= $1)" in page, page[:1500]
    assert "Rows Removed by Filter" not in page, page[:1500]
