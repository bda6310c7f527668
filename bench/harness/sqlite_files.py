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


def insert_users(path, names):
    """Stores users named names in auth_user at path, as another program on
    the same file would (Django's create_user takes any letter, this
    service's POST ASCII only)."""
    con = sqlite3.connect(path, timeout=10)
    try:
        with con:
            con.executemany("INSERT INTO auth_user (password, is_superuser, username, last_name,"
                            " email, is_staff, is_active, date_joined, first_name) VALUES"
                            " ('x', 0, ?, '', '', 0, 1, '2020-01-01 00:00:00.000', '')",
                            [(n,) for n in names])
    finally:
        con.close()
