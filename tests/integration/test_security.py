"""Security properties checked on the real stack and the built binary:
passwords stored only as libxcrypt hashes and never logged, the database
files unreachable through nginx, the FastCGI socket 0660, the binary
hardened, nginx's limits in its rendered configuration and at work (body,
header line, slow headers), /metrics allowed to METRICS_ALLOW only (loopback
by default), nosniff on every answer, bcrypt at Django's cost and its 72
bytes, and .env git-ignored."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests

from bench.harness.stack import BINARY, ROOT, Stack
from tests.harness.waiting import wait_for

SECRETS = ["Tr0ub4dor&3-form", "correct horse battery staple json", "pw-in-a-refused-request"]


@pytest.fixture(scope="module")
def sec_stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("security"), WORKERS=2).start()
    yield s
    s.stop()


def test_passwords_are_stored_hashed_and_never_logged(sec_stack):
    s = sec_stack
    assert s.post("/create_user/", data={"username": "sec.form", "password": SECRETS[0]}
                  ).status_code == 200
    assert s.post("/create_user/", json={"username": "sec.json", "password": SECRETS[1]}
                  ).status_code == 200
    # Refused after the password was read: bad username, unknown field, taken name.
    for data in ({"username": "bad name", "password": SECRETS[2]},
                 {"username": "ok", "password": SECRETS[2], "role": "admin"},
                 {"username": "sec.form", "password": SECRETS[2]}):
        assert s.post("/create_user/", data=data).status_code in (400, 409)
    stored = dict(s.query("SELECT username, password FROM auth_user"))
    assert stored["sec.form"].startswith("$y$") and stored["sec.json"].startswith("$y$")
    files = [s.run_dir / n for n in ("app.log", "access.log", "nginx-error.log")]
    files += [p for p in s.run_dir.glob("db.sqlite3*")]  # the database, its WAL and SHM
    for secret in SECRETS:
        for variant in {secret, secret.replace(" ", "+"), secret.replace("&", "%26")}:
            for f in files:
                if f.exists():
                    assert variant.encode() not in f.read_bytes(), f"{secret!r} found in {f.name}"


def test_database_files_are_not_reachable_through_nginx(sec_stack):
    s = sec_stack
    s.get("/create_user/")  # the WAL and SHM exist now
    assert (s.run_dir / "db.sqlite3-wal").exists() and (s.run_dir / "db.sqlite3-shm").exists()
    db = str(s.db_path)
    paths = ["/db.sqlite3", "/db.sqlite3-wal", "/db.sqlite3-shm", db, db + "-wal", db + "-shm",
             "/var/db.sqlite3", "/../db.sqlite3", "/%2e%2e/db.sqlite3", "/create_user/../db.sqlite3",
             "/fcgi.sock", "/nginx.conf", "/app.log", "/access.log", "//db.sqlite3",
             "/db.sqlite3%00", "/DB.SQLITE3"]
    for path in paths:
        r = s.get(path)
        assert r.status_code in (400, 404), path
        assert b"SQLite format 3" not in r.content and b"\x37\x7f\x06\x82" not in r.content, path
        assert b"\x37\x7f\x06\x83" not in r.content, path


def test_fastcgi_socket_is_0660_and_not_world_writable(sec_stack):
    st = os.stat(sec_stack.run_dir / "fcgi.sock")
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert not st.st_mode & stat.S_IWOTH


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args, str(BINARY)], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils not installed")
def test_binary_is_hardened():
    assert re.search(r"Type:\s+DYN", readelf("-h")), "not PIE"
    dynamic = readelf("-d")
    assert "BIND_NOW" in dynamic or re.search(r"FLAGS.*\bNOW\b", dynamic), "no -z now"
    assert "GNU_RELRO" in readelf("-l"), "no RELRO"
    symbols = readelf("--dyn-syms")
    assert "__stack_chk_fail" in symbols, "no stack protector"
    fortified = set(re.findall(r"\b(__\w+_chk)\b", symbols)) - {"__stack_chk_fail"}
    assert fortified, "no _FORTIFY_SOURCE checked functions"
    assert "TEXTREL" not in dynamic


def test_nginx_limits_are_in_the_configuration(sec_stack):
    conf = (sec_stack.run_dir / "nginx.conf").read_text()
    for directive in ("client_max_body_size 64k", "client_header_buffer_size",
                      "large_client_header_buffers", "client_header_timeout",
                      "client_body_timeout", "send_timeout", "fastcgi_read_timeout",
                      "fastcgi_send_timeout", "fastcgi_next_upstream off", "server_tokens off"):
        assert directive in conf, directive
    assert not re.search(r"^\s*(root|alias|autoindex)\s", conf, re.M), "nginx serves files"


def metrics_rules(stack):
    conf = (stack.run_dir / "nginx.conf").read_text()
    block = re.search(r"location = /metrics \{(.*?)\}", conf, re.S)
    assert block, "no /metrics location"
    return re.findall(r"^\s*(allow|deny)\s+([^;]+);", block.group(1), re.M)


def test_metrics_is_allowed_to_loopback_only_by_default(sec_stack):
    """The allow list of /metrics in the rendered config, in order, ending in
    deny all: nginx stops at the first match, so nothing else gets through.
    Private ranges are not on it (a proxy or a rootless port forwarding in
    10/8 makes every client look private).  The deny at work: the next tests."""
    assert metrics_rules(sec_stack) == [("allow", "127.0.0.0/8"), ("allow", "::1"),
                                        ("deny", "all")]
    assert sec_stack.get("/metrics").status_code == 200  # from 127.0.0.1


def get_from(source, port, path):
    """The status of GET path on 127.0.0.1:port from the local address source."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as c:
        c.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        return int(c.recv(4096).decode(errors="replace").split()[1])


def test_metrics_allow_is_a_setting(make_stack):
    """METRICS_ALLOW replaces the list: here 127.0.0.2 alone may read
    /metrics, 127.0.0.1 is denied (every address of 127/8 is this machine's)."""
    s = make_stack(WORKERS=1, METRICS_ALLOW="127.0.0.2/32")
    assert metrics_rules(s) == [("allow", "127.0.0.2/32"), ("deny", "all")]
    assert get_from("127.0.0.2", s.port, "/metrics") == 200
    assert get_from("127.0.0.1", s.port, "/metrics") == 403
    assert get_from("127.0.0.1", s.port, "/healthz") == 200


def unix_http_get(sock_path, path):
    """The status of GET path over nginx's unix socket listener, None while
    it does not answer (the reload in progress)."""
    try:
        return _unix_http_get(sock_path, path)
    except (OSError, IndexError, ValueError):
        return None


def _unix_http_get(sock_path, path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(str(sock_path))
        c.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        head = c.recv(4096).decode(errors="replace")
    return int(head.split()[1])


def test_metrics_denied_to_a_client_outside_the_allow_list(make_stack):
    """The deny at work, with local traffic only: the stack's nginx gets a
    second listener on a unix socket (nginx reloaded), where a client's
    address is "unix:", in none of the allowed ranges.  /healthz answers
    there (the same server block), /metrics is 403; over TCP from 127.0.0.1
    /metrics still answers."""
    s = make_stack(WORKERS=1)
    conf = s.run_dir / "nginx.conf"
    probe = s.run_dir / "probe.sock"
    text, n = re.subn(r"^(\s*)listen (127\.0\.0\.1:\d+);", rf"\g<0>\n\1listen unix:{probe};",
                      conf.read_text(), count=1, flags=re.M)
    assert n == 1, "no listen line in the rendered config"
    conf.write_text(text)
    os.kill(s.pid("nginx"), signal.SIGHUP)
    wait_for(probe.exists, 10, "nginx's unix listener after the reload")
    assert wait_for(lambda: unix_http_get(probe, "/healthz") == 200, 10, "/healthz over it")
    assert unix_http_get(probe, "/metrics") == 403
    assert s.get("/metrics").status_code == 200


def test_query_strings_are_not_logged(sec_stack):
    r = sec_stack.get("/create_user/?password=hunter2-in-a-url")
    assert r.status_code == 400  # never read: refused, and not logged either
    # nginx writes the line after the answer has left: wait for it (5 s at most).
    deadline = time.monotonic() + 5
    while True:
        log = (sec_stack.run_dir / "access.log").read_text()
        if '"GET /create_user/ HTTP/1.1" 400 ' in log or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "hunter2-in-a-url" not in log
    assert '"GET /create_user/ HTTP/1.1" 400 ' in log


def test_a_body_over_64k_is_413_and_64k_is_passed_on(sec_stack):
    s = sec_stack
    before = s.user_count()
    form = b"username=limit&password=x&pad="
    at_limit = form + b"p" * (64 * 1024 - len(form))
    r = s.post("/create_user/", data=at_limit,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    # Through nginx to the worker, which refuses the unknown field.
    assert (r.status_code, r.text) == (400, 'unknown field "pad": expected username, email, password\n')
    r = s.post("/create_user/", data=at_limit + b"p",
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert not re.search(r"nginx/\d", r.text)  # server_tokens off: no version
    assert s.user_count() == before


def test_a_header_line_over_8k_is_refused_by_nginx(sec_stack):
    r = sec_stack.get("/healthz", headers={"X-Long": "a" * 9000})
    assert r.status_code in (400, 431, 494), r.status_code
    assert sec_stack.get("/healthz", headers={"X-Long": "a" * 7000}).status_code == 200


def test_slow_headers_are_cut_off_by_client_header_timeout(sec_stack):
    """Headers never finished: nginx answers 408 or closes the connection once
    client_header_timeout (10 s) passes. The lower bound says it was that
    timeout (nginx waits at least that long); the upper one only stops a
    broken run from hanging."""
    with socket.create_connection(("127.0.0.1", sec_stack.port), timeout=60) as c:
        start = time.monotonic()
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: not finished
        got = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
        waited = time.monotonic() - start
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got
    assert 9.5 <= waited < 60, waited


def test_bcrypt_is_djangos_cost_and_refuses_what_it_would_cut(make_stack):
    """HASH_METHOD=bcrypt with HASH_COST unset stores Django's cost 12 (not
    libxcrypt's 5, 128 times cheaper to guess); bcrypt reads 72 bytes, so
    a longer password is refused, naming the limit, rather than cut."""
    s = make_stack(WORKERS=1, HASH_METHOD="bcrypt")
    r = s.post("/create_user/", data={"username": "bc.72", "password": "p" * 72})
    assert r.status_code == 200, r.text
    r = s.post("/create_user/", data={"username": "bc.73", "password": "p" * 73})
    assert (r.status_code, r.text) == (400, "password: at most 72 bytes with HASH_METHOD=bcrypt\n")
    (stored,) = s.query("SELECT password FROM auth_user")[0]
    assert stored.startswith("$2b$12$")
    assert s.user_count() == 1


def test_the_compose_env_file_is_git_ignored():
    """.env is where docs/containers.md puts POSTGRES_PASSWORD: never committed."""
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", ".env"], timeout=30)
    assert ignored.returncode == 0, ".env is not in .gitignore"


def test_every_answer_says_nosniff(sec_stack):
    """X-Content-Type-Options: nosniff on the workers' answers, whatever the
    status: a browser never reads a body that echoes input as HTML."""
    s = sec_stack
    answers = [s.get("/healthz"), s.get("/users/"), s.get("/nope"), s.get("/metrics"),
               s.post("/create_user/", data={"username": "<b>x</b>", "password": "x"}),
               requests.delete(s.url("/create_user/"), timeout=30),
               requests.options(s.url("/users/"), timeout=30)]
    assert [r.status_code for r in answers] == [200, 200, 404, 200, 400, 405, 204]
    for r in answers:
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (r.url, r.headers)
