#!/bin/sh
# Starts the worker pool: migrates the database, then runs
#   spawn-fcgi -n -s SOCKET -M 0660 -- multiwatch -f WORKERS -- sqlite-fcgi serve
# in the foreground (spawn-fcgi and multiwatch exec, so this process becomes
# multiwatch: signal it to stop the pool).
#
# Environment: SOCKET (required), SQLITE_FCGI (the binary, default
# sqlite-fcgi on PATH), and the settings of README.md (DB_PATH, WORKERS, ...).
# MULTIWATCH_RETRIES / MULTIWATCH_TIMEOUT_MS: a worker slot that dies more
# than RETRIES times, each within TIMEOUT_MS of its start, is given up on
# (a crash loop); a worker that lived longer is always restarted.
set -eu

: "${SOCKET:?SOCKET must name the FastCGI socket to create}"
SQLITE_FCGI=${SQLITE_FCGI:-sqlite-fcgi}
MULTIWATCH_RETRIES=${MULTIWATCH_RETRIES:-10}
MULTIWATCH_TIMEOUT_MS=${MULTIWATCH_TIMEOUT_MS:-1000}

# Validates every setting (a bad one stops here, naming the variable) and
# resolves the worker count (WORKERS, WEB_CONCURRENCY or CPUs + 1).
settings=$("$SQLITE_FCGI" config)
workers=$(printf '%s\n' "$settings" | sed -n 's/^WORKERS=//p')

"$SQLITE_FCGI" migrate

# The workers' shared counters (GET /metrics) start from zero with each pool.
METRICS_PATH=${METRICS_PATH:-$SOCKET.metrics}
rm -f "$METRICS_PATH"
export METRICS_PATH

# spawn-fcgi execs without a PATH search: give it the full path.
exec spawn-fcgi -n -s "$SOCKET" -M 0660 -- \
	"$(command -v multiwatch)" -f "$workers" -r "$MULTIWATCH_RETRIES" -t "$MULTIWATCH_TIMEOUT_MS" -- \
	"$SQLITE_FCGI" serve
