"""500 is for bugs only: a constraint other than the unique username failing,
the random source failing, the password hash failing.  Each is answered 500
`internal error` (no Retry-After: trying again will not help), logged with
its cause, writes nothing, and leaves the worker serving once the cause is
gone.  (The kept user count missing is test_surprises.py's.)

The random source fails through tests/faults/inject.c (LD_PRELOAD); the
hash fails for real: libxcrypt's yescrypt cannot get its memory under an
address-space limit set on the running worker."""

import resource
import subprocess

import pytest

from tests.harness import faults
from bench.harness.sqlite_files import users_in

FAST_HASH = {"HASH_METHOD": "sha512crypt", "HASH_COST": 1000}


def post(s, name, **kw):
    return s.post("/create_user/", data={"username": name, "password": "pw"}, **kw)


def assert_500(r):
    assert r.status_code == 500, r.text
    assert r.text == "internal error\n"
    assert "Retry-After" not in r.headers


def sqlite3_cli(db, sql):
    subprocess.run(["sqlite3", str(db), sql], check=True, capture_output=True, timeout=30)


def kept_count(s):
    return s.query("SELECT n FROM sqlitefcgi_user_count WHERE id = 1")[0][0]


def test_another_constraint_failing(make_stack):
    """A trigger added from outside refuses some usernames: SQLite's
    SQLITE_CONSTRAINT_TRIGGER is not "username taken", so 500, not 409."""
    s = make_stack(WORKERS=2, **FAST_HASH)
    pids = s.wait_for_workers(2)
    assert post(s, "before").status_code == 200
    sqlite3_cli(s.db_path, "CREATE TRIGGER refuse_bugs BEFORE INSERT ON auth_user"
                " WHEN NEW.username GLOB 'bug*'"
                " BEGIN SELECT RAISE(ABORT, 'usernames starting with bug are refused'); END;")
    for i in range(4):  # each worker meets it (nginx picks the worker)
        assert_500(post(s, f"bug{i}"))
    assert post(s, "fine").status_code == 200
    assert post(s, "before").status_code == 409  # the unique constraint is still 409
    assert ("create_user: internal error: insert user: usernames starting with bug"
            " are refused (SQLITE_CONSTRAINT_TRIGGER, 1811)") in s.app_log()
    assert users_in(s.db_path) == {"before", "fine"}
    assert kept_count(s) == 2
    sqlite3_cli(s.db_path, "DROP TRIGGER refuse_bugs;")
    assert [post(s, f"bug{i}").status_code for i in range(4)] == [200] * 4
    assert s.worker_pids() == pids
    assert users_in(s.db_path) == {"before", "fine"} | {f"bug{i}" for i in range(4)}
    assert kept_count(s) == 6


def test_random_source_failing(make_stack, tmp_path):
    """getrandom fails: GET /create_user/ cannot draw a name, and a POST
    hashed as pbkdf2_sha256 cannot draw its salt (libxcrypt's methods draw
    theirs through arc4random_buf, inside glibc, which the injector does
    not reach)."""
    f = faults.Faults(tmp_path / "faults")
    db = tmp_path / "db.sqlite3"
    s = make_stack(WORKERS=2, DB_PATH=str(db), HASH_METHOD="pbkdf2_sha256", HASH_COST=1000,
                   **f.env(db))
    s.db_path = db
    pids = s.wait_for_workers(2)
    json = {"Accept": "application/json"}
    with f.on(faults.GETRANDOM):
        for i in range(4):
            assert_500(s.get("/create_user/"))
            assert_500(post(s, f"salted{i}"))
    log = s.app_log()
    assert ("create_user: internal error: random source failed:"
            " Function not implemented") in log
    assert "create_user: internal error: getrandom: Function not implemented" in log
    assert users_in(s.db_path) == set()
    made = s.get("/create_user/", headers=json)
    assert made.status_code == 200, made.text
    assert post(s, "salted").status_code == 200
    assert s.worker_pids() == pids
    assert users_in(s.db_path) == {made.json()["username"], "salted"}
    assert kept_count(s) == 2


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize("hash_when", ["before-begin", "inside-transaction"])
def test_hashing_failing(make_stack, hash_when):
    """yescrypt (libxcrypt's default cost) maps 16 MiB for each hash and
    unmaps it after.  With the worker's address space limited to its idle
    size plus half of that, crypt_rn fails; inside the transaction the
    hash fails with the write lock held, and the rollback must free it.
    (The limit is not taken from VmPeak: a worker's peak is its threads'
    start, when glibc reserves each thread's malloc arena.)"""
    s = make_stack(WORKERS=1, HASH_WHEN=hash_when)
    (pid,) = s.wait_for_workers(1)
    assert post(s, "before").status_code == 200
    idle = vm_kib(pid, "VmSize")
    saved = resource.prlimit(pid, resource.RLIMIT_AS)
    resource.prlimit(pid, resource.RLIMIT_AS, ((idle + 8 * 1024) * 1024, saved[1]))
    try:
        for i in range(3):
            assert_500(post(s, f"unhashed{i}"))
        # The premise: what the limit denies is the hash's memory, not the rest.
        assert s.get("/healthz").status_code == 200
    finally:
        resource.prlimit(pid, resource.RLIMIT_AS, saved)
    assert "create_user: internal error: crypt_rn failed:" in s.app_log()
    assert [post(s, f"after{i}").status_code for i in range(2)] == [200] * 2
    assert s.worker_pids() == [pid]
    assert users_in(s.db_path) == {"before", "after0", "after1"}
    assert kept_count(s) == 3
