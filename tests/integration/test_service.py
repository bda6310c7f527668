"""/create_user/, /healthz and the error answers, through nginx."""

import ctypes
import http.client
import re
import time

import pytest
import requests

# libxcrypt itself, as the service uses it (Python's crypt module is going away).
_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def verifies(password, stored):
    again = _libcrypt.crypt(password.encode(), stored.encode())
    return again is not None and again.decode() == stored


CREATED = re.compile(r"^User created, num users: (\d+)$")


def created_count(response):
    assert response.status_code == 200, response.text
    m = CREATED.match(response.text)
    assert m, response.text
    return int(m.group(1))


def test_create_user_body_and_growing_count(stack):
    before = stack.user_count()
    counts = [created_count(stack.get("/create_user/")) for _ in range(3)]
    assert counts == [before + 1, before + 2, before + 3]
    assert stack.user_count() == before + 3
    rows = stack.query("SELECT username, email, password FROM auth_user ORDER BY id DESC LIMIT 3")
    for username, email, password in rows:
        assert re.fullmatch(r"[A-Za-z0-9]{10}", username)
        assert email == username + "@example.com"
        assert password.startswith("$y$")


def test_posted_user_is_stored_with_a_verifiable_yescrypt_hash(stack):
    r = stack.post("/create_user/", data={"username": "alice.b+1@x", "email": "alice@example.org",
                                          "password": "s3cret & pass"})
    created_count(r)
    (email, stored), = stack.query("SELECT email, password FROM auth_user WHERE username = ?",
                                   "alice.b+1@x")
    assert email == "alice@example.org"
    assert stored.startswith("$y$")
    assert verifies("s3cret & pass", stored)
    assert not verifies("s3cret & pasS", stored)
    assert "s3cret" not in stack.app_log()


def test_json_in_and_out(stack):
    r = stack.post("/create_user/", json={"username": "jason", "password": "pw"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["username"] == "jason"
    assert body["num_users"] == stack.user_count()
    r = stack.get("/create_user/", headers={"Accept": "application/json"})
    assert re.fullmatch(r"[A-Za-z0-9]{10}", r.json()["username"])


@pytest.mark.parametrize("kwargs, message", [
    ({"data": {"username": "a b", "password": "x"}},
     "username: only letters, digits and @ . + - _ are allowed"),
    ({"data": {"username": "x" * 151, "password": "x"}}, "username: at most 150 characters"),
    ({"data": {"password": "x"}}, "username: this field is required"),
    ({"data": {"username": "bob2"}}, "password: this field is required"),
    ({"data": {"username": "bob2", "password": "x", "email": "nope"}},
     "email: not a valid address (needs one @ between a name and a domain)"),
    ({"data": {"username": "bob2", "password": "x", "role": "admin"}},
     'unknown field "role": expected username, email, password'),
    ({"data": "username=a&username=b&password=x",
      "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     "username: given more than once"),
    ({"data": "username=%zz", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     "malformed form body: bad percent-encoding"),
    ({"data": '{"username": "bob2"', "headers": {"Content-Type": "application/json"}},
     "malformed JSON"),
    ({"data": '["bob2"]', "headers": {"Content-Type": "application/json"}},
     "JSON body must be an object, not array"),
    ({"json": {"username": "bob2", "password": 12345}}, "password: must be a JSON string, not integer"),
])
def test_bad_input_is_refused_by_field_and_writes_nothing(stack, kwargs, message):
    before = stack.user_count()
    r = stack.post("/create_user/", **kwargs)
    assert r.status_code == 400
    assert r.text == message + "\n"
    assert stack.user_count() == before


def test_errors_as_json_when_asked(stack):
    r = stack.post("/create_user/", data={"username": "a b", "password": "x"},
                   headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "username: only letters, digits and @ . + - _ are allowed"}


def test_taken_username_is_409(stack):
    created_count(stack.post("/create_user/", data={"username": "taken", "password": "x"}))
    before = stack.user_count()
    r = stack.post("/create_user/", data={"username": "taken", "password": "y"})
    assert r.status_code == 409
    assert r.text == "username: already taken\n"
    assert stack.user_count() == before


def test_unsupported_media_type_is_415(stack):
    r = stack.post("/create_user/", data=b"<user/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    assert "Content-Type must be" in r.text


def test_body_over_the_limit_is_413(stack):
    before = stack.user_count()
    r = stack.post("/create_user/", data={"username": "big", "password": "x" * 100_000})
    assert r.status_code == 413
    assert stack.user_count() == before


def raw_get(stack, path):
    """GET path exactly as written (requests would normalise "/../")."""
    con = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        con.request("GET", path)
        r = con.getresponse()
        return r.status, r.read()
    finally:
        con.close()


@pytest.mark.parametrize("path, status", [
    ("/nope", 404), ("/create_user", 404), ("/db.sqlite3", 404), ("/db.sqlite3-wal", 404),
    ("/var/db.sqlite3", 404),
    # Above the root: nginx itself refuses the path before any location.
    ("/../db.sqlite3", 400),
])
def test_unknown_path_is_404_and_database_files_are_not_served(stack, path, status):
    got, body = raw_get(stack, path)
    assert got == status, (path, body)
    if status == 404:
        assert body == b"not found\n"
    assert b"SQLite format" not in body


def test_wrong_method_is_405_with_allow(stack):
    r = requests.delete(stack.url("/create_user/"), timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST, OPTIONS"
    r = requests.post(stack.url("/healthz"), timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_options_is_204_with_allow_and_creates_nothing(stack):
    before = stack.user_count()
    for path, allow in (("/create_user/", "GET, POST, OPTIONS"),
                        ("/healthz", "GET, HEAD, OPTIONS"), ("/metrics", "GET, HEAD, OPTIONS")):
        r = requests.options(stack.url(path), timeout=10)
        assert r.status_code == 204, path
        assert r.headers["Allow"] == allow
        assert r.content == b""
    assert stack.user_count() == before


@pytest.mark.parametrize("accept,is_json", [
    ("application/json", True),
    ("text/plain;q=0.5, application/json", True),
    ("application/jsonp", False),
    ("application/json;q=0", False),
    ("*/*", False),
    ("text/plain, application/json", False),
])
def test_accept_is_negotiated_with_q_values(stack, accept, is_json):
    r = stack.get("/create_user/", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json" if is_json else "text/plain")


def test_healthz(stack):
    r = stack.get("/healthz")
    assert r.status_code == 200
    assert r.text == "ok\n"


def test_access_log_has_status_timings_and_upstream(stack):
    stack.get("/healthz")
    line = [l for l in stack.access_log() if '"GET /healthz' in l][-1]
    sock = stack.run_dir / "fcgi.sock"
    assert re.search(r'" 200 \d+ rt=\d+\.\d{3} urt=\d+\.\d{3} ua=unix:(\S+)$', line), line
    assert line.endswith(f" ua=unix:{sock}"), line


def test_every_2xx_creation_in_the_log_is_a_user_in_the_database(make_stack):
    """On a stack of its own, so that no other test's requests count: 2xx
    answers of every kind, and refusals that must not be users."""
    s = make_stack(WORKERS=2)
    for _ in range(3):
        assert s.get("/create_user/").status_code == 200
    assert s.post("/create_user/", data={"username": "in.log", "password": "x"}).status_code == 200
    assert s.post("/create_user/", json={"username": "in.json", "password": "x"}).status_code == 200
    assert s.post("/create_user/", data={"username": "in.log", "password": "y"}).status_code == 409
    assert s.post("/create_user/", data={"username": "a b", "password": "x"}).status_code == 400
    # nginx writes a line once the answer is sent: wait for all 7.
    deadline = time.monotonic() + 10
    while True:
        lines = [l for l in s.access_log() if "/create_user/ HTTP" in l]
        if len(lines) >= 7 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    created = sum(1 for l in lines if re.search(r'" 2\d\d ', l))
    refused = sum(1 for l in lines if re.search(r'" 4\d\d ', l))
    assert (created, refused) == (5, 2)
    assert s.user_count() == created


def test_an_email_of_exactly_254_bytes_is_accepted(stack):
    email = "m" * 242 + "@example.com"
    assert len(email.encode()) == 254
    created_count(stack.post("/create_user/", data={"username": "mail254", "password": "x",
                                                    "email": email}))
    assert stack.query("SELECT email FROM auth_user WHERE username = 'mail254'") == [(email,)]
    r = stack.post("/create_user/", data={"username": "mail255", "password": "x",
                                          "email": "m" + email})
    assert (r.status_code, r.text) == (400, "email: at most 254 bytes\n")
