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


def first_value(path, sql):
    """The first column of the first row sql returns on the SQLite file at path."""
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def row_count(path, table):
    """The number of rows in table of the SQLite file at path."""
    return first_value(path, f"SELECT count(*) FROM {table}")


def user_count(path):
    """The number of rows in auth_user of the SQLite file at path."""
    return row_count(path, "auth_user")


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


def fill_users(path, n):
    """Adds n users to auth_user at path (a file `sqlite-fcgi migrate` made)
    in one transaction, fast: the rows are made by SQL itself, not sent one
    by one.  Usernames are 10 characters, scattered up front (four hex digits
    from a multiplicative hash of the row's number, then the number, which
    makes them unique), so that they fall all over the username index as the
    service's random names do; the password is Django's unusable form ("!"
    and 40 characters), so nobody can log in as these users.  The count
    table's trigger counts each row, so it stays exact.  The file's WAL mode
    is put back at the end."""
    con = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = delete")  # one write of each page, not two
        con.execute("PRAGMA synchronous = off")      # a bench's scratch file: no power loss to survive
        con.execute("PRAGMA cache_size = -262144")   # 256 MiB: the index's pages stay in memory
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1)"
            " INSERT INTO auth_user (password, last_login, is_superuser, username, last_name,"
            " email, is_staff, is_active, date_joined, first_name)"
            " SELECT '!' || hex(randomblob(20)), NULL, 0, name, '', name || '@example.com',"
            " 0, 1, '2020-01-01 00:00:00.000000', ''"
            " FROM (SELECT printf('%04x%06d', (i * 40503) % 65536, i) AS name FROM seq)",
            (n,))
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode = wal")
    finally:
        con.close()


def counted_users(path):
    """The count table's number of users (what /create_user/ answers)."""
    return first_value(path, "SELECT n FROM sqlitefcgi_user_count WHERE id = 1")
