import pytest

from tests.harness.postgres import postgres_server  # noqa: F401  (a fixture for every test)
from bench.harness.stack import Stack


@pytest.fixture
def make_stack(tmp_path):
    """Starts stacks with the given settings; stops them all after the test."""
    started = []

    def start(**settings):
        run_dir = tmp_path / f"stack{len(started)}"
        stack = Stack(run_dir, **settings)
        started.append(stack)
        return stack.start()

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A shared stack with 3 workers for the tests that only read its answers."""
    s = Stack(tmp_path_factory.mktemp("stack"), WORKERS=3)
    s.start()
    yield s
    s.stop()
