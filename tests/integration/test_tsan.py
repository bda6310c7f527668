"""Data races in a real worker: the one worker of a stack (WORKERS=1,
WORKER_THREADS=4) is built with ThreadSanitizer (make build/tsan/sqlite-fcgi)
and serves valid and refused requests from several clients at once, then
the stack is stopped so the worker exits through its stop path: no report."""

import shutil
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.harness.built import built
from tests.harness.request_mix import REQUESTS
from bench.harness.stack import ROOT


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")
def test_a_threaded_worker_under_thread_sanitizer_reports_no_race(make_stack, tmp_path):
    binary = built("build/tsan/sqlite-fcgi", ROOT / "build" / "tsan" / "sqlite-fcgi")
    logs = tmp_path / "tsan"
    logs.mkdir()
    wrapper = tmp_path / "sqlite-fcgi-tsan"
    # Only "serve" (the worker) is the instrumented build; config and migrate are not.
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = serve ]; then\n'
        f"  TSAN_OPTIONS=log_path={logs}/worker:exitcode=66 exec {binary} \"$@\"\n"
        "fi\n"
        f'exec {ROOT / "build" / "sqlite-fcgi"} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    s = make_stack(WORKERS=1, WORKER_THREADS=4, SQLITE_FCGI=str(wrapper),
                   HASH_METHOD="sha512crypt", HASH_COST=1000)
    # Every kind of request, eight times over, four at a time.
    with ThreadPoolExecutor(4) as clients:
        statuses = list(clients.map(
            lambda req: requests.request(req[0].upper(), s.url(req[1]), timeout=60,
                                         **req[2]).status_code, REQUESTS * 8))
    assert set(statuses) == {200, 400, 404, 405, 409, 415}, statuses
    s.stop()  # the stop path too: signal thread, eventfd, joins
    reports = sorted(logs.glob("worker*"))
    assert reports == [], "\n".join(p.read_text()[:3000] for p in reports)
    assert "stopping after" in s.app_log()
