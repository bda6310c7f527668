"""Load for sqlite-fcgi: each simulated user creates users, back to back.

    locust -f bench/load/locustfile.py --headless -u 10 -r 10 -t 10s \
        --stop-timeout 60 --host http://127.0.0.1:8000/

The task is the seed's, GET create_user/, asked again as soon as it is
answered, until the run stops (--stop-timeout lets the requests in flight
finish). A response counts as a success only when it is a 200 whose body
starts with "User created, num users: "; any other answer is a failure named
by its status and body, so that locust's failures CSV lists, for example,
"503 database is locked" with its count.

LOAD_READERS_PER_WRITER=N (default 0) adds a second kind of user, which reads
GET users/ back to back: N of them for each one that creates users (locust
shares -u between the two by these weights), so a run shows what reads cost
beside writes. Reads and writes have their own rows in the CSV files.

With --csv PREFIX, locust 2.12 rewrites PREFIX_stats.csv and
PREFIX_failures.csv once a second and not again after the last requests,
which --stop-timeout lets finish, have been counted: its files can miss the
last second. So once locust has stopped every user, this file also writes
PREFIX_final_stats.csv and PREFIX_final_failures.csv, with locust's own CSV
code and columns: those hold every request of the run.
"""

import csv
import os

from locust import FastHttpUser, constant, events, task
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

SUCCESS_PREFIX = "User created, num users: "
READ_PREFIX = "num users: "
READERS_PER_WRITER = int(os.environ.get("LOAD_READERS_PER_WRITER", "0"))
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


_stopping = False


@events.test_start.add_listener
def _started(**_kwargs):
    global _stopping
    _stopping = False


@events.test_stopping.add_listener
def _stop_asking(**_kwargs):
    global _stopping
    _stopping = True


def check(response, prefix):
    """Success only for a 200 whose body starts with prefix; else a named failure."""
    body = response.text or ""
    if response.status_code == 200 and body.startswith(prefix):
        response.success()
    else:
        name = failure_name(response.status_code, body, getattr(response, "error", None))
        response.failure(ResponseFailure(name))


class CreateUser(FastHttpUser):
    # As fast as each user can: the next request as soon as the last answered.
    wait_time = constant(0)
    weight = 1

    def on_start(self):
        # FastHttpUser appends the path to the host as written: the seed's
        # "create_user/" wants a host that ends with "/".
        self.path = "create_user/" if self.host.endswith("/") else "/create_user/"

    @task
    def create_users(self):
        """GET create_user/ again and again, until the run stops.

        One task that loops rather than one request per task: between two
        tasks a user is "waiting", and locust 2.12 kills a waiting user at
        once when the run stops; with no wait between tasks, that kill can
        land in the request the user has just sent (nginx logs 499, and a
        user may be created whose answer nobody reads). Inside a task a
        stop is graceful: the request in flight finishes (--stop-timeout).
        """
        while not _stopping:
            self.create_user()

    def create_user(self):
        with self.client.get(self.path, name="create_user/",
                             catch_response=True) as response:
            check(response, SUCCESS_PREFIX)


if READERS_PER_WRITER > 0:
    class ReadUsers(FastHttpUser):
        """GET users/ (the 10 newest users and the count), back to back."""
        wait_time = constant(0)
        weight = READERS_PER_WRITER

        def on_start(self):
            self.path = "users/" if self.host.endswith("/") else "/users/"

        @task
        def read_users(self):
            """Loops inside one task, for the reason create_users gives."""
            while not _stopping:
                with self.client.get(self.path, name="users/",
                                     catch_response=True) as response:
                    check(response, READ_PREFIX)


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
