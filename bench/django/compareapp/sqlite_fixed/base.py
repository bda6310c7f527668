"""Django's SQLite backend with the fix, for Django before 5.1.

Two changes to django.db.backends.sqlite3:
- each new connection switches to WAL (readers and the writer no longer
  block each other) with synchronous=NORMAL, as sqlite-fcgi's tuned profile;
- a transaction starts with BEGIN IMMEDIATE, so that it takes the write lock
  first, where waiting (the busy timeout) is safe. Django's plain BEGIN is
  deferred: a transaction that read and then writes gets "database is
  locked" at once, whatever the timeout.
"""

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _start_transaction_under_autocommit(self):
        self.cursor().execute("BEGIN IMMEDIATE")
