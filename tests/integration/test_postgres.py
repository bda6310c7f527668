"""The PostgreSQL engine against a real server (tests/harness/postgres.py)
through the real stack: DATABASE_URL, migrate, exact counts under
concurrency (both engines), and the failures of issue 11."""

import os
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.harness.metrics import busy_count, group_commit_batches, scrape
from tests.harness.netfaults import FaultProxy
from bench.harness.ports import free_port
from bench.harness.postgres import PASSWORD, PASSWORD_IN_URL
from bench.harness.stack import BINARY, ROOT
from tests.harness.waiting import wait_for

CHEAP_HASH = {"HASH_METHOD": "sha512crypt", "HASH_COST": 1000}
SECRETS = (PASSWORD, PASSWORD_IN_URL, "s3cret")


@pytest.fixture
def pg_db(postgres_server):
    """A fresh database and its URL."""
    name = postgres_server.new_database()
    return name, postgres_server.url(name)


def sqlite_fcgi(command, **env):
    full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full.update({k: str(v) for k, v in env.items()})
    return subprocess.run([str(BINARY), command], env=full, capture_output=True,
                          text=True, timeout=60)



def pg_count(server, db):
    return (int(server.value("SELECT count(*) FROM auth_user", db)),
            int(server.value("SELECT n FROM sqlitefcgi_user_count", db)))


def assert_no_secret(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_config_prints_the_engine_with_the_password_masked(pg_db):
    _, url = pg_db
    out = sqlite_fcgi("config", DATABASE_URL=url)
    assert out.returncode == 0, out.stderr
    assert "DATABASE_URL=postgres://sqlitefcgi:***@127.0.0.1:" in out.stdout
    assert "engine: postgresql" in out.stdout
    assert "password=***" in out.stdout
    assert "statement_timeout" in out.stdout and "sqlitefcgi_insert" in out.stdout
    assert_no_secret(out.stdout, out.stderr)


ALL = ("config", "migrate", "serve")


@pytest.mark.parametrize("url, says, commands", [
    ("mysql://sqlitefcgi:s3cret@127.0.0.1/db", "must start with postgres://", ALL),
    ("postgres://sqlitefcgi:s3cret@127.0.0.1/db?nosuchoption=1", "libpq cannot parse it", ALL),
    ("sqlite:///", "sqlite:///", ALL),
    # libpq checks values only when it connects: migrate, which the pool
    # runs before it starts, refuses them.
    ("postgresql://sqlitefcgi:s3cret@127.0.0.1/db?sslmode=bogus", "sslmode", ("migrate",)),
])
def test_a_bad_database_url_is_refused_naming_it(url, says, commands, tmp_path):
    for command in commands:
        out = sqlite_fcgi(command, DATABASE_URL=url, DB_PATH=tmp_path / "db.sqlite3")
        assert out.returncode != 0
        assert "DATABASE_URL" in out.stderr and says in out.stderr, out.stderr
        assert_no_secret(out.stdout, out.stderr)


def test_sqlite_url_keeps_sqlite(tmp_path):
    out = sqlite_fcgi("config", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3")
    assert out.returncode == 0
    assert f"DB_PATH={tmp_path}/x.sqlite3" in out.stdout
    assert "journal_mode" in out.stdout


def test_migrate_is_idempotent_and_safe_run_at_once(postgres_server, pg_db):
    db, url = pg_db
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = url
    # Four at once, as four hosts' pools starting together would.
    procs = [subprocess.Popen([str(BINARY), "migrate"], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "schema version 2" in err
        assert_no_secret(err)
    assert sqlite_fcgi("migrate", DATABASE_URL=url).returncode == 0
    assert postgres_server.psql("SELECT version FROM sqlitefcgi_schema_version ORDER BY 1",
                                db) == [["1"], ["2"]]
    # auth_user itself is checked against Django's own migrate in test_django_schema.py.
    assert pg_count(postgres_server, db) == (0, 0)




def create(stack, **kw):
    return requests.get(stack.url("/create_user/"), timeout=60, **kw)


# 200 creations at once on 2 workers of 16 threads: each its own transaction,
# or (group commit) sharing them, each with the count at its own insert.
@pytest.mark.parametrize("group_commit", ["off", "on"])
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_each_n_answered_once_under_concurrency(engine, group_commit, make_stack, request):
    settings = dict(CHEAP_HASH, WORKERS=2, WORKER_THREADS=16, GROUP_COMMIT=group_commit)
    if engine == "postgresql":
        server = request.getfixturevalue("postgres_server")
        db = server.new_database()
        settings["DATABASE_URL"] = server.url(db)
    stack = make_stack(**settings)
    total = 200

    def one(_):
        r = create(stack)
        return r.status_code, r.text

    with ThreadPoolExecutor(max_workers=total) as pool:
        answers = list(pool.map(one, range(total)))
    assert all(status == 200 for status, _ in answers), answers
    ns = sorted(int(text.rsplit(" ", 1)[1]) for _, text in answers)
    assert ns == list(range(1, total + 1))
    shared, writes_in_them = group_commit_batches(scrape(stack))
    if group_commit == "on":
        assert writes_in_them == total
        assert shared < total, "no two creations shared a transaction"
    else:
        assert (shared, writes_in_them) == (0, 0)
    if engine == "postgresql":
        assert pg_count(server, db) == (total, total)
        assert_no_secret(stack.app_log(), "\n".join(stack.access_log()),
                         (stack.run_dir / "nginx-error.log").read_text())
    else:
        assert stack.user_count() == total


@pytest.fixture
def pg_stack(postgres_server, pg_db, make_stack):
    """A stack on a fresh PostgreSQL database: (stack, server, db name)."""
    def start(**settings):
        db, url = pg_db
        return make_stack(DATABASE_URL=url, WORKERS=2, **dict(CHEAP_HASH, **settings)), \
            postgres_server, db
    return start


def test_taken_username_is_409_and_writes_nothing(pg_stack):
    stack, server, db = pg_stack()
    r = stack.post("/create_user/", data={"username": "alice", "password": "pw-alice-123"})
    assert r.status_code == 200 and r.text == "User created, num users: 1"
    r = stack.post("/create_user/", data={"username": "alice", "password": "pw-other-123"})
    assert r.status_code == 409 and "already taken" in r.text
    assert pg_count(server, db) == (1, 1)
    r = stack.post("/create_user/", data={"username": "bob", "password": "pw-bob-1234"})
    assert r.text == "User created, num users: 2"


def test_outage_answers_503_then_workers_reconnect_by_themselves(pg_stack):
    stack, server, db = pg_stack()
    assert create(stack).text == "User created, num users: 1"
    workers = stack.worker_pids()
    server.stop("fast")
    try:
        # More requests than workers: each worker meets the outage.
        for _ in range(6):
            r = create(stack)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert r.text.strip() == "database unavailable"
        assert stack.get("/healthz").status_code == 503
    finally:
        server.start()
    wait_for(lambda: stack.get("/healthz").status_code == 200, 30, "healthz after restart")
    answers = {create(stack).text for _ in range(4)}
    assert answers == {f"User created, num users: {n}" for n in range(2, 6)}
    assert stack.worker_pids() == workers, "a worker was restarted"
    assert pg_count(server, db) == (5, 5)
    assert_no_secret(stack.app_log())


def post_in_background(stack, data):
    result = {}

    def run():
        result["r"] = requests.post(stack.url("/create_user/"), data=data, timeout=60)
    t = threading.Thread(target=run)
    t.start()
    return t, result


def test_connection_killed_mid_transaction_leaves_no_user(pg_stack):
    # The busy timeout bounds lock waits: long enough for the kill below.
    stack, server, db = pg_stack(SQLITE_BUSY_TIMEOUT_MS=30000)
    assert create(stack).status_code == 200
    locker = server.session(db)
    try:
        # The worker's INSERT waits behind this lock, inside its transaction.
        locker.run("BEGIN")
        locker.run("LOCK TABLE auth_user IN SHARE MODE")
        t, result = post_in_background(stack, {"username": "victim", "password": "pw-victim-1"})
        pids = wait_for(lambda: server.backends_waiting_on_lock(db), 20, "the INSERT to wait")
        assert server.psql(f"SELECT pg_terminate_backend({pids[0]})", db) == [["t"]]
        t.join(60)
        assert result["r"].status_code == 503
        locker.run("ROLLBACK")
    finally:
        locker.close()
    assert server.psql("SELECT count(*) FROM auth_user WHERE username = 'victim'", db) == [["0"]]
    assert pg_count(server, db) == (1, 1)
    r = stack.post("/create_user/", data={"username": "victim", "password": "pw-victim-1"})
    assert r.status_code == 200 and r.text == "User created, num users: 2"


def test_lock_wait_past_the_busy_timeout_is_503(pg_stack):
    # 500 ms: the wait below is held until the answer comes back.
    stack, server, db = pg_stack(SQLITE_BUSY_TIMEOUT_MS=500)
    locker = server.session(db)
    try:
        locker.run("BEGIN")
        locker.run("LOCK TABLE auth_user IN SHARE MODE")
        r = stack.post("/create_user/", data={"username": "waiter", "password": "pw-waiter-1"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        locker.run("ROLLBACK")
    finally:
        locker.close()
    assert "lock_not_available" in stack.app_log()
    samples = scrape(stack)
    assert busy_count(samples, "PG_55P03_lock_not_available") == 1
    assert busy_count(samples, "other") == 0
    r = stack.post("/create_user/", data={"username": "waiter", "password": "pw-waiter-1"})
    assert r.text == "User created, num users: 1"


def test_deadlock_is_retried(pg_stack):
    stack, server, db = pg_stack(SQLITE_BUSY_TIMEOUT_MS=30000)
    locker = server.session(db)
    try:
        # This session must not be the one the deadlock check picks: the
        # worker's (deadlock_timeout 1 s) finds the cycle first.
        locker.run("SET deadlock_timeout = '60s'")
        locker.run("BEGIN")
        locker.run("UPDATE sqlitefcgi_user_count SET n = n WHERE id = 1")
        # The worker inserts "dl", then its trigger waits for the count row.
        t, result = post_in_background(stack, {"username": "dl", "password": "pw-dl-12345"})
        wait_for(lambda: server.backends_waiting_on_lock(db), 20, "the worker to wait")
        # Now this session waits for the worker's "dl": a cycle.
        locker.send("INSERT INTO auth_user (password, is_superuser, username, first_name,"
                    " last_name, email, is_staff, is_active, date_joined) VALUES"
                    " ('x', false, 'dl', '', '', '', false, true, now())")
        wait_for(lambda: "rolled back" in stack.app_log(), 30, "the retry")
        # The second run waits for this session's "dl": let it through.
        locker.run("ROLLBACK")
        t.join(60)
    finally:
        locker.close()
    assert result["r"].status_code == 200, result["r"].text
    assert result["r"].text == "User created, num users: 1"
    assert "deadlock_detected" in stack.app_log()
    assert pg_count(server, db) == (1, 1)


def test_users_moved_from_sqlite_with_pgloader(postgres_server, pg_db, make_stack,
                                               tmp_path):
    sqlite_stack = make_stack(**CHEAP_HASH)
    for n in range(1, 6):
        assert create(sqlite_stack).text == f"User created, num users: {n}"
    names = sorted(r[0] for r in sqlite_stack.query("SELECT username FROM auth_user"))
    sqlite_stack.stop()
    db, url = pg_db
    assert sqlite_fcgi("migrate", DATABASE_URL=url).returncode == 0
    env = dict(os.environ, SQLITE_DB=str(sqlite_stack.db_path), PGPASSWORD=PASSWORD,
               PG_TARGET=f"postgresql://sqlitefcgi@127.0.0.1:{postgres_server.port}/{db}")
    out = subprocess.run(["pgloader", "--root-dir", str(tmp_path / "pgloader"),
                          str(ROOT / "deploy" / "postgresql" / "sqlite-to-postgresql.load")],
                         env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert pg_count(postgres_server, db) == (5, 5)
    moved = sorted(r[0] for r in postgres_server.psql("SELECT username FROM auth_user", db))
    assert moved == names
    pg = make_stack(DATABASE_URL=url, **CHEAP_HASH)
    assert create(pg).text == "User created, num users: 6"
    assert postgres_server.psql("SELECT max(id) FROM auth_user", db) == [["6"]]


def test_make_stack_refuses_a_bad_url(make_stack):
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        make_stack(DATABASE_URL="mongodb://x")


def test_users_page_and_count_read_only(pg_stack):
    stack, server, db = pg_stack()
    for name in ("p1", "p2", "p3"):
        assert stack.post("/create_user/", data={"username": name, "password": "pw"}).status_code == 200
    page = stack.get("/users/?limit=2", headers={"Accept": "application/json"}).json()
    assert page["count"] == 3
    assert [u["username"] for u in page["users"]] == ["p3", "p2"]
    assert "password" not in str(page)
    rest = stack.get(f"/users/?after_id={page['next_after_id']}",
                     headers={"Accept": "application/json"}).json()
    assert [u["username"] for u in rest["users"]] == ["p1"] and rest["next_after_id"] is None
    assert stack.get("/users/count").text == "3\n"


@pytest.mark.parametrize("path", ["/read_transaction/", "/users/"])
def test_a_read_whose_commit_answer_never_comes_is_503(path, postgres_server, pg_db, make_stack):
    """A transaction that only read writes nothing, whatever became of its
    COMMIT: the answer is an ordinary 503 worth a retry, never the 504 of a
    write whose outcome is unknown."""
    db, url = pg_db
    proxy = FaultProxy("127.0.0.1", postgres_server.host, postgres_server.port).start()
    try:
        # The deadline's floor: the worker gives the hung COMMIT up after 0.5 s.
        stack = make_stack(DATABASE_URL=url.replace(
            f"@{postgres_server.host}:{postgres_server.port}/", f"@127.0.0.1:{proxy.port}/"),
            WORKERS=1, DB_DEADLINE_MS=1000, **CHEAP_HASH)
        assert stack.get(path).status_code == 200
        # The COMMIT reaches the server; its answer never comes back.
        proxy.hang_at(b"COMMIT\x00", forward=True)
        r = stack.get(path)
        assert proxy.hung.is_set()
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert r.text.strip() == "database unavailable"
        # The connection given up, the next request connects again.
        wait_for(lambda: stack.get(path).status_code == 200, 30, "a read after the hang")
    finally:
        proxy.stop()


def test_a_missing_count_row_is_named_and_migrate_repairs_it(pg_stack):
    stack, server, db = pg_stack()
    assert stack.post("/create_user/", data={"username": "m1", "password": "pw"}).status_code == 200
    server.psql("DELETE FROM sqlitefcgi_user_count", db)
    assert stack.post("/create_user/", data={"username": "m2", "password": "pw"}).status_code == 500
    assert "run 'sqlite-fcgi migrate' to recount" in stack.app_log()
    out = sqlite_fcgi("migrate", DATABASE_URL=stack.env["DATABASE_URL"])
    assert out.returncode == 0, out.stderr
    assert "the kept user count was missing: recounted the users" in out.stderr
    r = stack.post("/create_user/", data={"username": "m2", "password": "pw"})
    assert (r.status_code, r.text) == (200, "User created, num users: 2")


# A password with what URLs and the old masker got wrong: '?' (libpq ends
# the user info at '@', not at '?'), '@' and '%' (percent-encoded).
TRICKY_ROLE = "maskrole"
TRICKY_PASSWORD = "hunter?2@x%y"


def tricky_urls(server, db, port=None):
    """The same role and password given three ways: in the user info, as a
    percent-encoded key (pass%77ord=) and beside an sslpassword=."""
    where = f"127.0.0.1:{port or server.port}/{db}"
    return [f"postgres://{TRICKY_ROLE}:hunter?2%40x%25y@{where}",
            f"postgres://{TRICKY_ROLE}@{where}?pass%77ord=hunter%3F2%40x%25y",
            f"postgresql://{TRICKY_ROLE}:hunter?2%40x%25y@{where}?sslpassword=hunter-ssl"]


def assert_no_tricky_secret(*texts):
    for text in texts:
        assert "hunter" not in text, text


def test_a_tricky_password_is_never_printed(postgres_server, make_stack):
    """`sqlite-fcgi config`, migrate's error and a worker's reconnect
    warnings print DATABASE_URL rebuilt from libpq's parse, every secret
    masked; the stacks create users first, so libpq read the password as
    the role's."""
    server = postgres_server
    server.psql(f"CREATE ROLE {TRICKY_ROLE} LOGIN PASSWORD '{TRICKY_PASSWORD}'")
    db = server.new_database()
    server.psql(f"ALTER DATABASE {db} OWNER TO {TRICKY_ROLE}")
    masked = f"{TRICKY_ROLE}:***@127.0.0.1:"
    for url in tricky_urls(server, db):
        out = sqlite_fcgi("config", DATABASE_URL=url)
        assert out.returncode == 0, out.stderr
        assert f"DATABASE_URL={url.split('://')[0]}://{masked}{server.port}/{db}" in out.stdout
        assert_no_tricky_secret(out.stdout, out.stderr)
    closed = free_port()
    for url in tricky_urls(server, db, port=closed):
        out = sqlite_fcgi("migrate", DATABASE_URL=url)
        assert out.returncode != 0 and f"{masked}{closed}/{db}" in out.stderr, out.stderr
        assert_no_tricky_secret(out.stdout, out.stderr)
    stacks = [make_stack(DATABASE_URL=url, WORKERS=1, **CHEAP_HASH)
              for url in tricky_urls(server, db)]
    for stack in stacks:
        assert create(stack).status_code == 200
    server.stop("fast")
    try:
        for stack in stacks:
            assert create(stack).status_code == 503
    finally:
        server.start()
    for stack in stacks:
        wait_for(lambda: stack.get("/healthz").status_code == 200, 30, "healthz after restart")
        log = stack.app_log()
        assert "connecting to DATABASE_URL=" in log and masked in log, log
        assert_no_tricky_secret(log, "\n".join(stack.access_log()))


def test_date_joined_is_utc_whatever_the_servers_timezone(postgres_server, pg_db, make_stack):
    """A database whose sessions default to Asia/Tokyo (UTC+9, no daylight
    saving): GET /users/ still gives date_joined in UTC, as SQLite's is."""
    db, url = pg_db
    postgres_server.psql(f"ALTER DATABASE {db} SET timezone TO 'Asia/Tokyo'")
    assert postgres_server.value("SHOW timezone", db) == "Asia/Tokyo"
    stack = make_stack(DATABASE_URL=url, WORKERS=1, **CHEAP_HASH)
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    assert stack.post("/create_user/", data={"username": "tz", "password": "pw"}).status_code == 200
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    (user,) = stack.get("/users/", headers={"Accept": "application/json"}).json()["users"]
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\+00", user["date_joined"])
    assert m, user["date_joined"]
    joined = datetime.fromisoformat(m.group(1))
    assert before - timedelta(seconds=2) <= joined <= after + timedelta(seconds=2), \
        (before, user["date_joined"], after)
