"""The bad-input corpus (bad_inputs.py) against the real stack, over raw
sockets so that nothing is normalised on the way: each case gets its status
and message, a refused request changes nothing in the database, valid hostile
strings are stored literally, and the workers that started the run are still
the ones serving at its end (nothing crashed)."""

import json
import socket
import subprocess

import pytest

from bad_inputs import CASES


def raw_request(port, method, path, headers, body, timeout=30):
    """Sends one HTTP/1.1 request as bytes; returns (status, headers, body)."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if "Content-Length" not in headers and (body or method in ("POST", "PUT", "PATCH")):
        head.append(f"Content-Length: {len(body)}")
    head += [f"{k}: {v}" for k, v in headers.items()]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # nginx answered before reading everything: read its answer
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    raw = b"".join(chunks)
    header_block, _, payload = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return status, fields, payload


def snapshot(stack):
    return stack.query("SELECT id, username, email, password FROM auth_user ORDER BY id")


@pytest.fixture(scope="module")
def corpus_stack(tmp_path_factory):
    from bench.harness.stack import Stack
    s = Stack(tmp_path_factory.mktemp("corpus"), WORKERS=2, HASH_METHOD="sha512crypt",
              HASH_COST=1000).start()
    s.first_pids = s.wait_for_workers(2)
    yield s
    s.stop()


def test_corpus_is_large_and_covers_every_status():
    assert len(CASES) >= 50
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["status"] for c in CASES} >= {200, 400, 404, 405, 413, 414, 415}


@pytest.mark.parametrize("c", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(corpus_stack, c):
    s = corpus_stack
    before = snapshot(s)
    status, headers, body = raw_request(s.port, c["method"], c["path"], c["headers"], c["body"])
    text = body.decode("utf-8", "replace")
    assert status == c["status"], text[:300]
    after = snapshot(s)
    if c["stored"] is None:
        if c["by"] == "nginx":
            assert f"<title>{c['message']}</title>" in text
        else:
            assert text == c["message"] + "\n"
        if status == 405 and c["by"] == "service":
            assert headers["Allow"] in ("GET, POST, OPTIONS", "GET, HEAD, OPTIONS")
        assert after == before, "a refused request changed the database"
    else:
        assert text.startswith("User created, num users: ")
        new = [row for row in after if row not in before]
        assert len(new) == 1 and after[:len(before)] == before
        _, username, email, stored_hash = new[0]
        assert (username, email) == c["stored"]
        assert stored_hash.startswith("$6$")
    # Still serving, by the same workers.
    assert s.get("/healthz").status_code == 200


def test_the_table_still_exists_and_the_same_workers_serve(corpus_stack):
    s = corpus_stack
    assert s.query("PRAGMA integrity_check") == [("ok",)]
    assert s.worker_pids() == s.first_pids, "a worker died during the corpus"
    r = s.post("/create_user/", data={"username": "after.corpus", "password": "x"})
    assert r.status_code == 200
    assert s.query("SELECT COUNT(*) FROM auth_user WHERE username = 'after.corpus'") == [(1,)]
    assert "internal error" not in s.app_log()


# Each email as a stock Django's BaseUserManager.normalize_email stores it.
NORMALIZE = """
import json, sys
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"])
django.setup()
from django.contrib.auth.base_user import BaseUserManager
print(json.dumps([BaseUserManager.normalize_email(e) for e in json.load(sys.stdin)]))
"""

EMAILS = ["Bob.X@Example.COM", "MiXed@sub.DOMAIN.org", "a@ÉXAMPLE.ORG", "a@ДОМЕН.РФ",
          "a@İSTANBUL.TR", "a@ΣΊΣΥΦΟΣ.GR", "a@ΑΣ", "a@ΑΣ-Β.GR", "a@ǅ.com", "a@Ⱥ.com",
          "Ünïcode@Straße.DE", "a@ẞ.de"]


def test_emails_are_stored_as_django_normalizes_them(corpus_stack):
    """The domain lowercased as Python's str.lower does, the name kept: what
    Django's create_user would store, checked against Debian's Django."""
    s = corpus_stack
    out = subprocess.run(["/usr/bin/python3", "-c", NORMALIZE], input=json.dumps(EMAILS),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    django = json.loads(out.stdout)
    for i, email in enumerate(EMAILS):
        r = s.post("/create_user/", data={"username": f"norm{i}", "email": email,
                                          "password": "x"})
        assert r.status_code == 200, r.text
    stored = [s.query("SELECT email FROM auth_user WHERE username = ?", f"norm{i}")[0][0]
              for i in range(len(EMAILS))]
    assert stored == django
