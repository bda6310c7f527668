"""The run loop of the load tools (make demo, make compare): runs one after
the other, each a load against a fresh server in a directory of its own, the
server's own records counted after the requests in flight have finished; and
on Ctrl-C, the load and the server in progress stopped, nothing left running.

A server is a stack.Stack or a django_app.DjangoApp: start(), stop(), port,
url(), root_pids(), db_path and access_log_path."""

import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from . import interrupts, load as loads
from .accesslog import path_statuses
from .locust import Totals
from .measure import cpu_seconds, cpu_snapshot, descendants, rss_kb, wait_idle
from .report import say
from .sqlite_files import user_count

# What a server's start or stop raises when it fails.
SERVER_ERRORS = (AssertionError, RuntimeError, OSError, subprocess.SubprocessError)


@dataclass
class Outcome:
    """One run: what the load counted (totals: request name -> Totals, ""
    for the whole run) and what the server recorded."""
    totals: dict = field(default_factory=dict)
    users_in_db: int = None
    path_statuses: Counter = field(default_factory=Counter)  # (path, status) in the access log
    peak_rss_kb: int = 0   # the server's processes, summed, at the highest sample
    cpu_s: float = 0.0     # the server's processes over the run
    problem: str = ""      # why the run has no (or no full) result

    def of(self, name=loads.CREATE):
        return self.totals.get(name) or Totals(requests=0, failures=0, rps=0.0)

    @property
    def statuses(self):
        """Counter of status -> /create_user/ requests in the access log."""
        return Counter({status: n for (path, status), n in self.path_statuses.items()
                        if path == "/" + loads.CREATE})

    @property
    def answers_2xx(self):
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Session:
    """A tool's runs, one at a time; cleanup() stops what is in progress."""

    def __init__(self, out):
        self.out = out
        self.load_before = os.getloadavg()[0]
        self.server = None
        self.load = None
        self.cleanups = []  # more to stop at the end (a PostgreSQL server)

    def fresh_dir(self, run_dir, server):
        """run_dir, empty: what an earlier, killed run left there is removed
        (its stack stopped first)."""
        if run_dir.exists():
            try:
                with interrupts.held():
                    server.stop()
            except SERVER_ERRORS:
                pass
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        return run_dir

    def run_one(self, label, run_dir, server, load, count_users=None, env=None):
        """server started, load run against it (load's generator in env),
        server stopped, its records counted (users: count_users(), else its
        SQLite file's auth_user; a load of other writes passes a count of
        its own rows, None for none); the Outcome."""
        outcome = Outcome()
        self.server = server
        try:
            with interrupts.held():
                server.start()
        except SERVER_ERRORS as e:
            outcome.problem = f"did not start: {first_line(e)}"
            say(f"{label}: did not start: {str(e).strip()}")
            self.stop_server()
            return outcome
        say(f"{label}: up on 127.0.0.1:{server.port}, {load.describe()}")
        self.run_load(outcome, label, server, load, run_dir, env)
        if not self.stop_server():
            outcome.problem = outcome.problem or "the server did not stop cleanly"
        try:
            outcome.users_in_db = count_users() if count_users else user_count(server.db_path)
            outcome.path_statuses = path_statuses(server.access_log_path)
        except (OSError, sqlite3.Error, RuntimeError, ValueError) as e:
            outcome.problem = outcome.problem or f"could not count the server's records: {e}"
        say(f"{label}: " + self.summary(outcome) + (f"; {outcome.problem}" if outcome.problem else ""))
        return outcome

    @staticmethod
    def summary(outcome):
        """One line of a run's figures: /create_user/'s and the users, or
        (another load) the whole run's and what was counted."""
        if loads.CREATE in outcome.totals:
            t = outcome.of()
            return (f"{t.requests} requests, {t.failures} failures, {t.rps:.1f} req/s, "
                    f"users in DB {outcome.users_in_db}, 2xx answers {outcome.answers_2xx}")
        t = outcome.of("")
        return (f"{t.requests} requests, {t.failures} failures, {t.rps:.1f} req/s"
                + ("" if outcome.users_in_db is None else f", rows {outcome.users_in_db}"))

    def run_load(self, outcome, label, server, load, run_dir, env):
        """The load, with the server's memory sampled and its CPU time counted
        until it has answered every request it got."""
        roots = server.root_pids()

        def processes():
            return descendants(roots)

        def sample():
            outcome.peak_rss_kb = max(outcome.peak_rss_kb, rss_kb(processes()))

        before = cpu_snapshot(processes())
        try:
            self.load = load.start(server.url("/"), run_dir, env if env is not None else os.environ)
        except OSError as e:
            outcome.problem = f"{load.tool} could not be started: {e}"
            return
        rc = loads.watch(self.load, load, label, sample)
        self.load = None
        if load.cuts_off:
            wait_idle(processes)
        outcome.cpu_s = cpu_seconds(before, cpu_snapshot(processes()))
        if rc is None:
            outcome.problem = f"{load.tool} did not finish within {load.limit} s (see {run_dir})"
            return
        outcome.totals, outcome.problem = load.results(run_dir, rc)

    def stop_server(self):
        """Stops the server in progress; whether it stopped cleanly."""
        server, self.server = self.server, None
        if server is None:
            return True
        try:
            with interrupts.held():
                server.stop()
            return True
        except SERVER_ERRORS as e:
            say(f"stopping the server in {server.run_dir}: {first_line(e)}")
            return False

    def cleanup(self):
        """Stops the load and the server in progress, and what cleanups
        names; a second Ctrl-C meanwhile is ignored."""
        with interrupts.ignored():
            if self.load is not None:
                loads.stop(self.load)
                self.load = None
            self.stop_server()
            while self.cleanups:
                self.cleanups.pop()()

    def run(self, body):
        """body() (the tool's runs), then cleanup() whatever happened; False
        when a Ctrl-C stopped it."""
        try:
            body()
        except interrupts.Interrupted:
            self.cleanup()
            say("\ninterrupted: stopped the load and the server; no table written")
            return False
        finally:
            self.cleanup()
        return True
