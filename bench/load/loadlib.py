"""What the locust files of bench/load share: failures named by what the
server answered, a user loop that stops gracefully, and the final CSV files.

With --csv PREFIX, locust 2.12 rewrites PREFIX_stats.csv and
PREFIX_failures.csv once a second and not again after the last requests,
which --stop-timeout lets finish, have been counted: its files can miss the
last second. So once locust has stopped every user, this module also writes
PREFIX_final_stats.csv and PREFIX_final_failures.csv, with locust's own CSV
code and columns: those hold every request of the run.
"""

import csv

from locust import events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

# A failure's name keeps at most this much of the body.
MAX_BODY_IN_NAME = 120


class ResponseFailure(Exception):
    """A wrong answer, named by "STATUS BODY".

    Locust names a failure by repr() of its exception (its failures CSV would
    say "CatchResponseError('503 ...')"): this repr is the message alone.
    """

    def __repr__(self):
        return str(self.args[0])

    __str__ = __repr__


def failure_name(status, body, error=None):
    """ "503 database is locked"; "connection error: ..." when there was no answer."""
    if not status:
        return f"connection error: {error!r}" if error else "connection error"
    text = " ".join((body or "").split())
    if len(text) > MAX_BODY_IN_NAME:
        text = text[:MAX_BODY_IN_NAME] + "..."
    return f"{status} {text}" if text else str(status)


def check(response, prefix):
    """Success only for a 200 whose body starts with prefix; else a named failure."""
    body = response.text or ""
    if response.status_code == 200 and body.startswith(prefix):
        response.success()
    else:
        name = failure_name(response.status_code, body, getattr(response, "error", None))
        response.failure(ResponseFailure(name))


_stopping = False


def running():
    """False once locust has begun to stop the run.

    A user's task loops on this rather than being one request per task:
    between two tasks a user is "waiting", and locust 2.12 kills a waiting
    user at once when the run stops; with no wait between tasks, that kill
    can land in the request the user has just sent (nginx logs 499, and a
    write may be done whose answer nobody reads). Inside a task a stop is
    graceful: the request in flight finishes (--stop-timeout)."""
    return not _stopping


@events.test_start.add_listener
def _started(**_kwargs):
    global _stopping
    _stopping = False


@events.test_stopping.add_listener
def _stop_asking(**_kwargs):
    global _stopping
    _stopping = True


_environment = None


@events.init.add_listener
def _keep_environment(environment, **_kwargs):
    global _environment
    _environment = environment


@events.quit.add_listener
def _write_final_csv(**_kwargs):
    """Writes PREFIX_final_{stats,failures}.csv once the run is over."""
    env = _environment
    prefix = getattr(getattr(env, "parsed_options", None), "csv_prefix", None)
    if env is None or not prefix:
        return
    writer = StatsCSV(env, PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
        with open(f"{prefix}_final_{suffix}.csv", "w", newline="", encoding="utf-8") as f:
            write(csv.writer(f))
