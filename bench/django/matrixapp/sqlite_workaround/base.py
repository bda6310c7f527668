"""Django's SQLite backend with upstream's workaround, for Django before 5.1
(which has neither "transaction_mode" nor "init_command" for SQLite).

compareapp.sqlite_fixed already switches each new connection to WAL with
synchronous=NORMAL (the "+ WAL" and "+ NORMAL" rows of upstream's published
table); here transaction.atomic begins with BEGIN EXCLUSIVE, as upstream's
djangosqlite/sqlite3 backend does: the write lock is taken at BEGIN, where
the busy timeout can wait for it, instead of at the first write of a
transaction that has already read (which SQLite refuses at once). In WAL
mode EXCLUSIVE takes the same lock as IMMEDIATE.
"""

from compareapp.sqlite_fixed import base as fixed


class DatabaseWrapper(fixed.DatabaseWrapper):
    def _start_transaction_under_autocommit(self):
        self.cursor().execute("BEGIN EXCLUSIVE")
