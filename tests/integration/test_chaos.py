"""Crash safety under load: locust creates users through nginx while a random
worker is SIGKILLed every half second.  Afterwards the pool is whole, no more
requests failed than the killed workers held (one a serving thread), the
database is intact, and every user acknowledged with a 2xx is in it."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.waiting import wait_for

# A kill every KILL_INTERVAL_S for CHAOS_SECONDS: 26 planned.  Each of the
# three workers then lives about 1.5 s, past multiwatch's 1 s restart window.
CHAOS_SECONDS = 13
KILL_INTERVAL_S = 0.5
PLANNED_KILLS = round(CHAOS_SECONDS / KILL_INTERVAL_S)
WORKERS = 3
LOCUSTFILE = Path(__file__).resolve().parent / "chaos_locustfile.py"


def seen(stack, first_seen):
    """The workers now, each one new to first_seen noted as born by now."""
    now, pids = time.monotonic(), stack.worker_pids()
    for p in pids:
        first_seen.setdefault(p, now)
    return now, pids


def kill_loop(stack, seconds, interval, min_age=1.2):
    """SIGKILLs one random worker every interval seconds; returns the number
    of kills that happened: each one counted once the pid is gone and
    multiwatch has a new worker in its place, not each one attempted.  Only a
    worker seen more than min_age ago, so older than multiwatch's restart
    window (1 s), is picked, so that the kills never look like a crash loop
    (deploy/pool/workers.sh: -r 10 -t 1000)."""
    first_seen, kills = {}, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(interval)
        now, pids = seen(stack, first_seen)
        old = [p for p in pids if now - first_seen[p] >= min_age]
        if not old:
            continue
        victim = random.choice(old)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        wait_for(lambda: victim not in stack.worker_pids()
                 and len(stack.worker_pids()) == WORKERS, what="the killed worker replaced")
        seen(stack, first_seen)  # the replacement's age counts from here, not from the next look
        kills += 1
    return kills


# One thread a worker, each request its own transaction; four threads whose
# writes share transactions (group commit): a kill then fails a whole batch.
@pytest.mark.parametrize("threads, group_commit", [(1, "off"), (4, "on")],
                         ids=["1-thread", "4-threads-group-commit"])
def test_sigkill_under_load_loses_no_acknowledged_user(make_stack, tmp_path, threads,
                                                       group_commit):
    s = make_stack(WORKERS=WORKERS, WORKER_THREADS=threads, GROUP_COMMIT=group_commit,
                   HASH_METHOD="sha512crypt", HASH_COST=1000)
    s.wait_for_workers(WORKERS)
    log = tmp_path / "requests.log"
    env = dict(os.environ, CHAOS_LOG=str(log), CHAOS_PREFIX="chaos")
    locust = subprocess.Popen(
        ["/usr/bin/locust", "-f", str(LOCUSTFILE), "--headless", "-u", "8", "-r", "8",
         "-t", f"{CHAOS_SECONDS + 1}s", "--stop-timeout", "10", "--host", s.base,
         "--only-summary", "--loglevel", "WARNING"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)
        kills = kill_loop(s, CHAOS_SECONDS, KILL_INTERVAL_S)
        out, _ = locust.communicate(timeout=60)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()

    pids = s.wait_for_workers(WORKERS)
    records = [line.split() for line in log.read_text().splitlines()]
    ok = {name for status, name in records if status == "200"}
    failed = {name for status, name in records if status != "200"}
    in_db = {name for (name,) in s.query("SELECT username FROM auth_user")}
    # Committed, then killed before answering: the client saw a failure, the
    # user exists.  Possible in a window of microseconds, so it is counted.
    unacknowledged = in_db & failed
    summary = (f"chaos, {threads} threads a worker, group commit {group_commit}: "
               f"{len(records)} requests, "
               f"{kills} workers killed, "
               f"{len(failed)} failed, {len(ok)} acknowledged, {len(in_db)} users in the database, "
               f"{len(ok - in_db)} acknowledged users lost, "
               f"{len(unacknowledged)} committed without an answer")
    print("\n" + summary)
    sys.stdout.flush()
    # PLANNED_KILLS, each confirmed by kill_loop; half of them is the margin
    # for a loaded machine, where a replacement takes longer to show.
    assert kills >= PLANNED_KILLS // 2, summary
    assert len(records) > 100, out[-2000:]
    assert len(pids) == WORKERS
    assert "died to often" not in s.app_log()  # multiwatch never gave up a slot
    # A kill fails what the worker held: at most one request a serving thread.
    assert len(failed) <= kills * threads, summary
    assert ok <= in_db, f"acknowledged but lost: {sorted(ok - in_db)[:10]}"
    assert in_db <= ok | failed, f"users nobody asked for: {sorted(in_db - ok - failed)[:10]}"
    assert len(in_db) == len(ok) + len(unacknowledged), summary
    assert s.query("PRAGMA integrity_check") == [("ok",)]
    assert s.query("PRAGMA foreign_key_check") == []
    # Every acknowledged password was stored as a hash.
    assert s.query("SELECT COUNT(*) FROM auth_user WHERE password NOT LIKE '$6$%'") == [(0,)]
    assert s.get("/create_user/").status_code == 200
