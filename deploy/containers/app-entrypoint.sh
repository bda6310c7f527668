#!/bin/sh
# Entry point of the app container: private files (the database and its
# -wal/-shm files 0600, the data directory 0700), then the worker pool of
# deploy/pool/workers.sh, which becomes this process (PID 1 of the container).
# With arguments, runs them instead (docker compose run app sqlite-fcgi config).
set -eu
umask 077
[ $# -gt 0 ] && exec "$@"
exec /usr/local/lib/sqlite-fcgi/workers.sh
