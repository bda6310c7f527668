"""Upstream's endpoint matrix under load, for the tools that run it (make
compare-matrix, make demo's second workload) and their tests: its eight
endpoints as locust names them, its loads (bench/load/matrix_locustfile.py
under locust, bench/load/matrix.lua under wrk), and what a run wrote
(rows in basic_model_row) against what it acknowledged."""

from .load import Locust, Wrk
from .paths import MATRIX_LOCUSTFILE, MATRIX_LUA
from .postgres import query_url
from .sqlite_files import row_count

READS = ("/read/", "/read_transaction/")
WRITES = ("/write/", "/read_write/", "/write_read/", "/write_read_transaction/",
          "/read_write_transaction/", "/read_write_transaction_immediate/")
ENDPOINTS = READS + WRITES
TABLE = "basic_model_row"
WHAT = "upstream's matrix mix"


def locust_load(users, seconds):
    """Upstream's mix under locust, all users started at once."""
    return Locust(users, seconds, locustfile=MATRIX_LOCUSTFILE, names=ENDPOINTS, what=WHAT)


def wrk_load(users, seconds):
    """The same mix under wrk, USERS connections."""
    return Wrk(users, seconds, path="/", script=MATRIX_LUA, what=WHAT)


def sqlite_rows(path, table=TABLE):
    """A function counting the rows of table (basic_model_row) in the SQLite file at path."""
    return lambda: row_count(path, table)


def postgres_rows(url, table=TABLE):
    """A function counting the rows of table (basic_model_row) in the database at url."""
    return lambda: int(query_url(url, f"SELECT count(*) FROM {table}"))


def acknowledged(outcome):
    """The writes the load saw answered 200 "OK", over the six write endpoints."""
    return sum(outcome.of(p).requests - outcome.of(p).failures for p in WRITES)


def logged_writes(outcome):
    """The writes the server's access log shows answered 2xx."""
    return sum(n for (path, status), n in outcome.path_statuses.items()
               if path in WRITES and 200 <= status < 300)


def worst_write_ms(outcome):
    """The slowest answer to a write (the largest max of the six), or None."""
    maxes = [outcome.of(p).max for p in WRITES if outcome.of(p).max is not None]
    return max(maxes) if maxes else None


def failed_endpoints(outcome):
    """{endpoint: failures} of the endpoints that failed at least once."""
    return {p: outcome.of(p).failures for p in ENDPOINTS if outcome.of(p).failures}
