"""A PostgreSQL primary and a synchronous standby, as docs/postgresql.md sets
them up: Debian's PostgreSQL 15, streaming replication from a
`pg_basebackup -R` copy, `synchronous_standby_names` on the primary so that
a COMMIT returns only once the standby has it, and a failover done as a
failover manager does it (`promote()`).

Both servers listen on 127.0.0.1 on ports of their own; the standby streams
from the primary over TCP (not the socket), so that an iptables DROP of the
primary's port cuts it off too (tests/harness/netfaults.py).
"""

import os
import signal
import subprocess
import time

from bench.harness.postgres import BIN, PostgresServer, as_postgres
from tests.harness.waiting import wait_for

STANDBY_NAME = "standby1"
REPLICATOR = "replicator"
REPLICATOR_PASSWORD = "r3plic8"


class ReplicatedPostgres:
    """primary and standby (PostgresServer each); the database the service uses."""

    def __init__(self):
        self.primary = PostgresServer()
        self.standby = PostgresServer()
        self.db = None

    @classmethod
    def launch(cls):
        pair = cls()
        try:
            pair._start_primary()
            pair._start_standby()
        except BaseException:
            pair.shutdown()
            raise
        return pair

    def _start_primary(self):
        p = self.primary
        p.init()
        with open(p.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host replication {REPLICATOR} 127.0.0.1/32 scram-sha-256\n")
        p.start()
        p.create_role()
        p.psql(f"CREATE ROLE {REPLICATOR} REPLICATION LOGIN PASSWORD '{REPLICATOR_PASSWORD}'")
        self.db = p.new_database()

    def _start_standby(self):
        s, p = self.standby, self.primary
        # -R writes standby.signal and primary_conninfo; the conninfo is then
        # set to TCP, as between two machines.
        p._check(as_postgres([str(BIN / "pg_basebackup"), "-h", str(p.dir), "-p", str(p.port),
                              "-U", "postgres", "-D", str(s.data), "-R", "-X", "stream",
                              "-c", "fast"], timeout=120), "pg_basebackup")
        with open(s.data / "postgresql.auto.conf", "a") as conf:
            conf.write(f"primary_conninfo = 'host=127.0.0.1 port={p.port} user={REPLICATOR}"
                       f" password={REPLICATOR_PASSWORD} application_name={STANDBY_NAME}'\n")
        # Every COMMIT waits until the standby has flushed it (synchronous_commit=
        # on); set once the roles exist, which would wait for it otherwise.  The
        # standby's copy gets it too, as a base backup taken later would.
        for server in (p, s):
            with open(server.data / "postgresql.conf", "a") as conf:
                conf.write(f"synchronous_standby_names = '{STANDBY_NAME}'\n")
        p.psql("SELECT pg_reload_conf()")
        s.start()
        wait_for(lambda: self.sync_state() == "sync", 60, "the standby to be synchronous")

    def sync_state(self):
        rows = self.primary.psql("SELECT sync_state FROM pg_stat_replication"
                                 f" WHERE application_name = '{STANDBY_NAME}'")
        return rows[0][0] if rows else None

    def url(self, hosts=None):
        """DATABASE_URL with both servers (or the given HOST:PORT list), read-write only:
        libpq tries each in turn and keeps the one that accepts writes."""
        hosts = hosts or [f"127.0.0.1:{self.primary.port}", f"127.0.0.1:{self.standby.port}"]
        base = self.primary.url(self.db).rsplit("@", 1)[0]
        return (f"{base}@{','.join(hosts)}/{self.db}"
                "?target_session_attrs=read-write&connect_timeout=2")

    def kill_primary(self):
        """kill -9 of the primary's postmaster and every backend: the host lost."""
        pid = self.primary.postmaster_pid()
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                              text=True).stdout.split()
        for victim in [pid] + [int(k) for k in kids]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the primary to die")

    def promote(self):
        """The failover: the standby stops waiting for a standby of its own (it
        has none: it would keep the primary's synchronous_standby_names from
        the base backup, and every COMMIT would wait forever), then is
        promoted.  Returns the time.monotonic() of the promotion."""
        s = self.standby
        s.psql("ALTER SYSTEM SET synchronous_standby_names = ''")
        s.psql("SELECT pg_reload_conf()")
        s._check(as_postgres([str(BIN / "pg_ctl"), "-D", str(s.data), "-w", "-t", "60",
                              "promote"], timeout=90), "pg_ctl promote")
        promoted = time.monotonic()
        wait_for(lambda: s.psql("SELECT pg_is_in_recovery()")[0][0] == "f", 30,
                 "the standby to leave recovery")
        return promoted

    def fence_primary(self):
        """The old primary stopped (immediate), as a failover manager fences it
        before the network heals: it must never take writes again."""
        if self.primary.data.exists() and self.primary.running():
            self.primary.stop("immediate")

    def users(self, server):
        """(username, count) of every username in the database of server."""
        return [(u, int(n)) for u, n in server.psql(
            "SELECT username, count(*) FROM auth_user GROUP BY username", self.db)]

    def shutdown(self):
        for server in (self.standby, self.primary):
            server.shutdown("immediate")
