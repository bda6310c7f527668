"""Reading a SQLite file the way the tools and tests judge it."""

import sqlite3


def users_in(path):
    """The usernames in the SQLite file at path (opened read-only), after
    asserting that PRAGMA integrity_check says ok."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {n for (n,) in con.execute("SELECT username FROM auth_user")}
    finally:
        con.close()


def user_count(path):
    """The number of rows in auth_user of the SQLite file at path."""
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM auth_user").fetchone()[0]
    finally:
        con.close()
