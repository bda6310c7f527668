"""The service's settings, as environment variables: the one list the harness
clears so that a developer's shell cannot change what a test or a measurement
runs (a test sets what it needs explicitly)."""

SETTING_NAMES = (
    "SQLITE_PROFILE", "SQLITE_JOURNAL_MODE", "SQLITE_SYNCHRONOUS", "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_TXN", "HASH_WHEN", "HASH_METHOD", "HASH_COST", "WORKERS", "WEB_CONCURRENCY",
)


def without_settings(env):
    """A copy of env without any of the service's settings."""
    return {k: v for k, v in env.items() if k not in SETTING_NAMES}
