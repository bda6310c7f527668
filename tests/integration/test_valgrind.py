"""Memory safety of a real worker: valgrind memcheck runs the one worker of a
stack (WORKERS=1, with one and with four threads) through a short load of
valid and refused requests, then the stack is stopped so the worker exits
normally and valgrind reports: no memory errors, nothing definitely lost."""

import re
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.harness.stack import BINARY
from tests.harness.request_mix import REQUESTS


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
