"""Memory safety of a real worker: valgrind memcheck runs the one worker of a
stack (WORKERS=1) through a short load of valid and refused requests, then
the stack is stopped so the worker exits normally and valgrind reports:
no memory errors, nothing definitely lost."""

import re
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.harness.stack import BINARY

REQUESTS = [
    ("get", "/create_user/", {}),
    ("get", "/create_user/", {"headers": {"Accept": "application/json"}}),
    ("post", "/create_user/", {"data": {"username": "vg.form", "password": "pw",
                                        "email": "vg@example.com"}}),
    ("post", "/create_user/", {"json": {"username": "vg.json", "password": "pw"}}),
    ("post", "/create_user/", {"data": {"username": "vg.form", "password": "pw"}}),  # 409
    ("post", "/create_user/", {"data": {"username": "a b", "password": "pw"}}),
    ("post", "/create_user/", {"data": "username=%zz", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("post", "/create_user/", {"data": '{"username": "x"', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"data": '{"username": "x\\u0000"}', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"data": '[1, {"a": [null]}]', "headers": {
        "Content-Type": "application/json"}}),
    ("post", "/create_user/", {"json": {"username": 1, "password": "x"}}),
    ("post", "/create_user/", {"data": "<x/>", "headers": {"Content-Type": "text/xml"}}),
    ("post", "/create_user/", {"data": {"username": "u", "password": "p" * 600}}),
    ("delete", "/create_user/", {}),
    ("get", "/nope", {}),
    ("get", "/healthz", {}),
    ("get", "/metrics", {}),
    ("post", "/create_user/", {}),  # 400: a POST must name its fields
    ("get", "/users/", {"headers": {"Accept": "application/json"}}),
    ("get", "/create_user/", {}),
    ("post", "/create_user/", {"data": {"username": "vg.last", "password": "pw"}}),
]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.parametrize("threads", [1, 4], ids=lambda n: f"{n}-threads")
def test_worker_under_valgrind_has_no_errors_and_no_leaks(make_stack, tmp_path, threads):
    logs = tmp_path / "valgrind"
    logs.mkdir()
    wrapper = tmp_path / "sqlite-fcgi-valgrind"
    # Only "serve" (the worker) runs under valgrind; config and migrate do not.
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = serve ]; then\n'
        "  exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\\n"
        "    --show-leak-kinds=definite --errors-for-leak-kinds=definite \\\n"
        f"    --log-file={logs}/worker.%p.log {BINARY} \"$@\"\n"
        "fi\n"
        f'exec {BINARY} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    s = make_stack(WORKERS=1, WORKER_THREADS=threads, SQLITE_FCGI=str(wrapper),
                   HASH_METHOD="sha512crypt", HASH_COST=1000)
    # With several threads, the requests are sent several at a time: threads
    # answer side by side (each its own buffers and connection).
    with ThreadPoolExecutor(threads) as clients:
        statuses = list(clients.map(
            lambda req: requests.request(req[0].upper(), s.url(req[1]), timeout=60,
                                         **req[2]).status_code, REQUESTS))
    assert statuses.count(200) == 9, statuses  # 6 creations, /users/, /healthz, /metrics
    assert set(statuses) == {200, 400, 404, 405, 409, 415}, statuses
    s.stop()  # the worker finishes and exits: valgrind writes its report

    reports = sorted(logs.glob("worker.*.log"))
    assert len(reports) == 1, "the worker was restarted under valgrind"
    text = reports[0].read_text()
    print("\n" + "\n".join(l for l in text.splitlines()
                           if re.search(r"ERROR SUMMARY|definitely lost|in use at exit", l)))
    assert "ERROR SUMMARY: 0 errors from 0 contexts" in text, text[-3000:]
    m = re.search(r"definitely lost: ([\d,]+) bytes", text)
    assert m is None or m.group(1) == "0", text[-3000:]
