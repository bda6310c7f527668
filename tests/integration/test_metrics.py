"""GET /metrics: Prometheus text, summed over the workers, kept across worker deaths."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families


def scrape(stack):
    r = stack.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def created_200(samples):
    return samples.get(("sqlite_fcgi_requests_total",
                        (("route", "/create_user/"), ("status", "200"))), 0)


def test_counts_are_summed_over_workers_and_survive_a_kill(make_stack):
    s = make_stack(WORKERS=3, HASH_METHOD="sha512crypt", HASH_COST=1000)
    pids = s.wait_for_workers(3)
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: s.get("/create_user/").status_code, range(60)))
    assert statuses == [200] * 60
    s.get("/nope")
    samples = scrape(s)
    assert created_200(samples) == 60
    assert samples[("sqlite_fcgi_requests_total", (("route", "other"), ("status", "404")))] == 1
    assert samples[("sqlite_fcgi_create_user_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_password_hash_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_write_lock_wait_seconds_count", ())] == 60
    assert samples[("sqlite_fcgi_create_user_seconds_bucket", (("le", "+Inf"),))] == 60
    assert samples[("sqlite_fcgi_wal_bytes", ())] > 0
    assert samples[("sqlite_fcgi_worker_restarts_total", ())] == 0
    # Each worker served some of them: the sum is over all slots.
    log = s.app_log()

    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (len(s.worker_pids()) != 3 or pids[0] in s.worker_pids()):
        time.sleep(0.05)
    for _ in range(9):
        assert s.get("/create_user/").status_code == 200
    samples = scrape(s)
    assert created_200(samples) == 69  # nothing lost with the killed worker, nothing twice
    assert samples[("sqlite_fcgi_worker_restarts_total", ())] == 1
    assert s.user_count() == 69
    assert "serving without metrics" not in log


def test_locked_answers_are_counted_by_code(make_stack):
    import sqlite3
    s = make_stack(WORKERS=2, SQLITE_BUSY_TIMEOUT_MS=50)
    holder = sqlite3.connect(s.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert s.get("/create_user/").status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    samples = scrape(s)
    assert samples[("sqlite_fcgi_sqlite_busy_total", (("code", "SQLITE_BUSY"),))] == 1
    assert samples[("sqlite_fcgi_requests_total",
                    (("route", "/create_user/"), ("status", "503")))] == 1
