"""Power-loss runs: record the stack under load, cut the power, check the
crash states, and judge them against what each synchronous setting
promises.  tests/integration/test_powerloss.py runs them small; `make
powerloss` runs this module as a longer campaign with progress output:

    make powerloss [POWERLOSS_STATES=10000] [POWERLOSS_USERS=3500]

What each setting must show (see docs/durability.md):
- default (WAL + synchronous=FULL): integrity ok and every user answered
  2xx before the crash point present, in every state;
- normal (WAL + NORMAL): integrity ok, and every user answered 2xx before
  a WAL sync (a checkpoint's) that returned before the crash point present;
  and some state lost acknowledged users, or the test could not tell
  NORMAL from FULL;
- off: a state with a corrupt file, and one that lost acknowledged users.
"""

import os
import sys
import tempfile
import time
from collections import namedtuple

from tests.powerloss import recording, replay
from tests.powerloss.acks import created_users
from tests.powerloss.summary import Summary
from tests.powerloss.writelog import read_log

# Every run with several threads a worker whose writes share transactions
# (group commit, on by default): one sync makes a batch of users durable,
# and no user of a batch may be answered before it.
BATCHED = {"WORKER_THREADS": "4", "GROUP_COMMIT": "on"}
SETTINGS = {
    "default": dict(BATCHED),
    "normal": dict(BATCHED, SQLITE_SYNCHRONOUS="normal"),
    "off": dict(BATCHED, SQLITE_SYNCHRONOUS="off"),
}

# summary: the states' counts; unanswered: users the clients had a 2xx for
# that the log holds no answer for (must be none); cut_off: 2xx answers
# the log holds that the clients never received (cut by the power loss).
Outcome = namedtuple("Outcome", "name summary problems unanswered cut_off sync_points seconds")


def problems(name, s):
    """What the states of a run under setting `name` show that they must not."""
    found = []
    if name in ("default", "normal") and s.integrity_failed:
        found.append(f"integrity failed in {len(s.integrity_failed)} states")
    if name == "default" and s.lost_acked_states:
        found.append(f"acknowledged users lost in {len(s.lost_acked_states)} states")
    if name == "normal":
        if s.lost_synced_states:
            found.append(f"users synced by a checkpoint lost in {len(s.lost_synced_states)} states")
        if s.synced_checks == 0:
            found.append("no WAL sync returned before any crash point: the bound was not exercised")
        if not s.lost_acked_states:
            found.append("no acknowledged user lost in any state: NORMAL looked like FULL")
    if name == "off":
        if not s.integrity_failed:
            found.append("no corrupt state")
        if not s.lost_acked_states:
            found.append("no acknowledged user lost in any state")
    return found


def run_setting(directory, name, users, states, jobs=2, progress=None):
    """Records a run under setting `name` until `users` were answered 2xx,
    then checks at least `states` crash states of it."""
    start = time.monotonic()
    rec = recording.record(directory, users, workers=2, clients=12, **SETTINGS[name])
    records = read_log(rec.log)
    answered = set(created_users(records))
    results = replay.run(records, rec.snapshot, states, jobs=jobs, progress=progress)
    summary = Summary(results)
    found = problems(name, summary)
    unanswered = rec.client_acked - answered
    if unanswered:
        found.append(f"{len(unanswered)} users had a 2xx with no answer in the log, "
                     f"e.g. {sorted(unanswered)[:3]}: the acknowledgements are not all mapped")
    return Outcome(name, summary, found, unanswered, answered - rec.client_acked,
                   len(replay.sync_points(records)), time.monotonic() - start)


def report(o):
    """The lines that say what a run showed."""
    return [f"{o.name}: {o.summary.counts()}; {o.sync_points} sync points, each a crash point",
            f"{o.name}: {o.summary.outcome()}; {len(o.cut_off)} answers cut off by the "
            f"power loss; {o.seconds:.0f} s",
            *o.summary.examples(),
            f"{o.name}: " + ("as expected" if not o.problems else
                             "NOT AS EXPECTED: " + "; ".join(o.problems))]


def progress_printer(name, every):
    """Prints a line every `every` states checked, and at the end."""
    last = [0]

    def progress(done, total, results):
        if done - last[0] >= every or done == total:
            last[0] = done
            s = Summary(results)
            print(f"  {name}: {done}/{total} states checked; integrity failed in "
                  f"{len(s.integrity_failed)}, acknowledged users lost in "
                  f"{len(s.lost_acked_states)}", flush=True)
    return progress


def main():
    states = int(os.environ.get("POWERLOSS_STATES") or 10000)
    users = int(os.environ.get("POWERLOSS_USERS") or 3500)
    plan = [("default", users, states), ("normal", users, max(1000, states // 4)),
            ("off", users, max(1000, states // 10))]
    outcomes = []
    for name, n_users, n_states in plan:
        print(f"{name}: recording until {n_users} users are answered 2xx, "
              f"then checking at least {n_states} crash states", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"powerloss-{name}-") as d:
            o = run_setting(d, name, n_users, n_states,
                            progress=progress_printer(name, max(500, n_states // 20)))
        print("\n".join(report(o)), flush=True)
        outcomes.append(o)
    total = sum(o.summary.states for o in outcomes)
    checks = sum(o.summary.acked_checks for o in outcomes)
    print(f"powerloss: {total} crash states, {checks} acknowledged-user checks, "
          f"{sum(1 for o in outcomes if o.problems)} settings not as expected")
    return 1 if any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
