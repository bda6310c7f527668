"""Users created through the real stack log in with a stock Django
(Debian's python3-django, no project: settings.configure on the same SQLite
file) when HASH_METHOD stores one of Django's formats; yescrypt, the
default, is the format Django cannot read."""

import json
import subprocess
from pathlib import Path

import pytest

CHECK = Path(__file__).with_name("django_check.py")
PYTHON = "/usr/bin/python3"


def django_says(db_path, users):
    """What Django says of each (username, right, wrong) triple."""
    out = subprocess.run([PYTHON, str(CHECK), str(db_path)], input=json.dumps(users),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def create(stack, username, password):
    r = stack.post("/create_user/", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return [username, password, password + "x"]


def stored_hash(stack, username):
    return stack.query("SELECT password FROM auth_user WHERE username = ?", username)[0][0]


@pytest.mark.parametrize("method,cost,prefix,algorithm", [
    ("pbkdf2_sha256", "1000", "pbkdf2_sha256$1000$", "pbkdf2_sha256"),
    # 0: the default iterations, Django 3.2's (about 0.1-0.3 s a hash here).
    ("pbkdf2_sha256", "0", "pbkdf2_sha256$260000$", "pbkdf2_sha256"),
    ("django-bcrypt", "4", "bcrypt$$2b$04$", "bcrypt"),
])
def test_django_logs_the_users_in(make_stack, method, cost, prefix, algorithm):
    s = make_stack(WORKERS=2, HASH_METHOD=method, HASH_COST=cost)
    users = [create(s, "alice", "correct horse battery"),
             create(s, "bob.oneil+1@x", "pässwörd ünïcode")]
    for username, _, _ in users:
        assert stored_hash(s, username).startswith(prefix)
    for said in django_says(s.db_path, users):
        assert said == {"username": said["username"], "algorithm": algorithm,
                        "check_right": True, "check_wrong": False, "model_right": True,
                        "authenticate_right": True, "authenticate_wrong": False}


def test_django_cannot_read_yescrypt(make_stack):
    """The trade-off of the default: Django does not know $y$ (a refusal, not a crash)."""
    s = make_stack(WORKERS=1, HASH_METHOD="yescrypt")
    users = [create(s, "carol", "correct horse battery")]
    out = subprocess.run([PYTHON, str(CHECK), str(s.db_path)], input=json.dumps(users),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Unknown password hashing algorithm" in out.stderr
