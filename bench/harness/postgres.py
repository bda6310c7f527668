"""A real PostgreSQL server, for the tools (make demo, make bench) and the
tests: Debian's postgresql 15, started with initdb + pg_ctl in a temporary
directory on a free loopback port, and stopped and removed by its user.

initdb refuses to run as root, so the server runs as the postgres user, in
a directory that user owns.  Each user of it asks for a database of its own
(`server.new_database()`), owned by a role with a password, and reaches it
through the URL it is given, over TCP with that password, as a deployment
would.  The tests' session-wide server is the fixture of
tests/harness/postgres.py.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path

from . import interrupts
from .ports import free_port
from .report import say

BIN = Path("/usr/lib/postgresql/15/bin")
ROLE = "sqlitefcgi"
# Characters a URL must percent-encode, so that the tests see them handled.
PASSWORD = "s3cret:p@ss/w0rd"
PASSWORD_IN_URL = "s3cret%3Ap%40ss%2Fw0rd"


def as_postgres(args, **kw):
    """Runs args as the postgres user (initdb, pg_ctl and psql refuse root
    or need the server's owner)."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + list(args)
    return subprocess.run(args, capture_output=True, text=True, **kw)


class PostgresServer:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sqlite-fcgi-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._names = count(1)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    @classmethod
    def launch(cls):
        """A new server, initialised, started and with the role; nothing is
        left behind when one of those fails."""
        server = cls()
        try:
            server.init()
            server.start()
            server.create_role()
        except BaseException:
            server.shutdown()
            raise
        return server

    def running(self):
        return as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "status"]).returncode == 0

    def shutdown(self, mode="fast"):
        """Stops the server if it runs (a user may have stopped it), then
        removes its directory."""
        try:
            if self.data.exists() and self.running():
                self.stop(mode)
        finally:
            self.remove()

    def _check(self, result, what):
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def init(self):
        # Local (socket) connections as postgres need no password; TCP ones
        # need the role's password, as on a real host.
        self._check(as_postgres([str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                 "--auth-local=trust", "--auth-host=scram-sha-256",
                                 "-E", "UTF8", "--locale=C.UTF-8"], timeout=120), "initdb")
        return self

    def start(self):
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={self.host}"
        self._check(as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                                 "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                                 "start"], timeout=90), "pg_ctl start")

    def stop(self, mode="fast"):
        self._check(as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                 "-w", "-t", "60", "stop"], timeout=90), "pg_ctl stop")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def postmaster_pid(self):
        """The server's main process (its backends are its children)."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def psql(self, sql, db="postgres"):
        """Runs sql as the superuser over the socket; the rows, as lists of strings."""
        result = self._check(as_postgres(["psql", "-h", str(self.dir), "-p", str(self.port),
                                          "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1",
                                          "-F", "\t", "-c", sql], timeout=60), f"psql {sql!r}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def value(self, sql, db):
        return self.psql(sql, db)[0][0]

    def create_role(self):
        self.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")

    def new_database(self):
        """A fresh empty database owned by the role; its name."""
        name = f"t{next(self._names)}"
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def session(self, db):
        """An open psql session as the superuser, to hold locks across steps."""
        return PsqlSession(self, db)

    def backends_waiting_on_lock(self, db):
        """The pids of the workers' backends that wait for a lock in db."""
        rows = self.psql("SELECT pid FROM pg_stat_activity WHERE datname = "
                         f"'{db}' AND application_name = 'sqlite-fcgi' AND "
                         "wait_event_type = 'Lock'")
        return [int(r[0]) for r in rows]

    def url(self, db, scheme="postgres"):
        return (f"{scheme}://{ROLE}:{PASSWORD_IN_URL}@{self.host}:{self.port}/{db}")


class PsqlSession:
    """psql reading statements from a pipe: run() waits for each to finish,
    send() does not (for a statement that blocks on a lock)."""

    def __init__(self, server, db):
        args = ["psql", "-h", str(server.dir), "-p", str(server.port), "-d", db,
                "-XAtq", "-v", "ON_ERROR_STOP=1"]
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--"] + args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._marks = count(1)

    def send(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n")
        self.proc.stdin.flush()

    def run(self, sql):
        """Runs sql and returns its output lines once it has finished."""
        mark = f"--done {next(self._marks)}--"
        self.send(sql)
        self.proc.stdin.write(f"\\echo {mark}\n")
        self.proc.stdin.flush()
        lines = []
        for line in self.proc.stdout:
            if line.rstrip("\n") == mark:
                return lines
            lines.append(line.rstrip("\n"))
        raise RuntimeError(f"psql ended: {lines}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class OnDemand:
    """Fresh databases for a tool's runs (make demo, make compare-matrix): on
    the one a given URL names (which must have no auth_user table yet), or
    each new on a server of the tool's own, started for the first run that
    needs one and stopped with the tool's session (harness/session.py)."""

    def __init__(self, session, url=None):
        self.session, self.given = session, url
        self.server = None
        self.version = None

    def fresh_url(self, table="auth_user"):
        """A database whose table (the one the run counts) holds no row yet."""
        if self.given:
            url = self.given
            if (query_url(url, f"SELECT to_regclass('{table}') IS NOT NULL") != "f"
                    and query_url(url, f"SELECT count(*) FROM {table}") != "0"):
                raise RuntimeError(f"--postgres-url: its database has rows in {table} "
                                   "already; give the tool a fresh one")
        else:
            if self.server is None:
                say("starting a PostgreSQL server (initdb + pg_ctl)")
                # Not stopped half-way: a server left starting could not be stopped.
                with interrupts.held():
                    self.server = PostgresServer.launch()
                    self.session.cleanups.append(self.stop)
            url = self.server.url(self.server.new_database())
        self.version = query_url(url, "SHOW server_version")
        return url

    def pids(self):
        """The server's main process, when it is the tool's own; else none."""
        return [self.server.postmaster_pid()] if self.server is not None else []

    def stop(self):
        server, self.server = self.server, None
        try:
            server.shutdown()
        except RuntimeError as e:
            say(f"PostgreSQL did not stop cleanly: {e}")


def query_url(url, sql):
    """The first value sql returns on the database at url, asked as the
    workers ask: a client over TCP with the URL's role and password."""
    result = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql: {result.stderr.strip()}")
    return result.stdout.strip()
