"""The tests' PostgreSQL server: one for the whole session, a real one
(bench/harness/postgres.py), stopped and removed after the last test.

    from tests.harness.postgres import postgres_server  # noqa: F401  (the fixture)
"""

import pytest

from bench.harness.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole session; stopped and removed after."""
    server = PostgresServer.launch()
    try:
        yield server
    finally:
        server.shutdown("immediate")
