#!/bin/sh
# The whole service on this machine: nginx on 127.0.0.1:PORT in front of the
# worker pool (deploy/workers.sh), everything it writes under RUN_DIR.
#
#   deploy/stack.sh start   start in the background; returns once /healthz answers
#   deploy/stack.sh stop    stop exactly what start started (pid files in RUN_DIR)
#   deploy/stack.sh run     start, follow the logs, and stop on Ctrl-C
#
# Environment: PORT (8000), RUN_DIR (var/run), DB_PATH (var/db.sqlite3),
# SQLITE_FCGI (build/sqlite-fcgi), START_TIMEOUT (seconds, 30), and every
# setting of README.md, passed on to the workers.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-8000}
RUN_DIR=${RUN_DIR:-var/run}
DB_PATH=${DB_PATH:-var/db.sqlite3}
SQLITE_FCGI=${SQLITE_FCGI:-$ROOT/build/sqlite-fcgi}
START_TIMEOUT=${START_TIMEOUT:-30}

abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
RUN_DIR=$(abspath "$RUN_DIR")
DB_PATH=$(abspath "$DB_PATH")
SQLITE_FCGI=$(abspath "$SQLITE_FCGI")
SOCKET=$RUN_DIR/fcgi.sock
export PORT DB_PATH SQLITE_FCGI SOCKET

say() { echo "stack: $*" >&2; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Sends sig to the process in pid file $1 and waits up to $2 seconds for it
# to go; then kills it (and, for multiwatch, the workers it leaves behind).
stop_pidfile() {
	pidfile=$1 wait_s=$2 sig=$3
	alive "$pidfile" || { rm -f "$pidfile"; return 0; }
	pid=$(cat "$pidfile")
	children=$(pgrep -P "$pid" 2>/dev/null || true)
	kill "-$sig" "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt $((wait_s * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "pid $pid did not stop within ${wait_s}s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
	rm -f "$pidfile"
}

do_stop() {
	# nginx first (QUIT: finish the requests in flight), then the workers
	# (multiwatch sends them its graceful signal: finish, then exit).
	stop_pidfile "$RUN_DIR/nginx.pid" 15 QUIT
	stop_pidfile "$RUN_DIR/workers.pid" 15 TERM
	rm -f "$SOCKET"
}

wait_healthy() {
	i=0
	while [ $i -lt $((START_TIMEOUT * 10)) ]; do
		if ! alive "$RUN_DIR/workers.pid" || ! alive "$RUN_DIR/nginx.pid"; then
			return 1
		fi
		if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

render_nginx() {
	# As root, nginx's workers would drop to "nobody", which may not reach a
	# socket in a private RUN_DIR: keep them as the user who started us.
	user=""
	[ "$(id -u)" -eq 0 ] && user="$(id -un) $(id -gn)"
	mkdir -p "$RUN_DIR/nginx-tmp"
	"$ROOT/nginx/render.sh" "$RUN_DIR" "$RUN_DIR" "127.0.0.1:$PORT" "$SOCKET" "$user" \
		>"$RUN_DIR/nginx.conf"
}

do_start() {
	if alive "$RUN_DIR/workers.pid" || alive "$RUN_DIR/nginx.pid"; then
		say "already running in $RUN_DIR (stop it first: make stop RUN_DIR=$RUN_DIR)"
		exit 1
	fi
	[ -x "$SQLITE_FCGI" ] || { say "$SQLITE_FCGI not built (run make)"; exit 1; }
	# A bad setting stops here, before anything starts.
	"$SQLITE_FCGI" config >/dev/null
	mkdir -p "$RUN_DIR" "$(dirname "$DB_PATH")"
	render_nginx
	nginx -q -t -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log"
	# setsid: a Ctrl-C in the terminal reaches us, and we stop them in order.
	setsid "$ROOT/deploy/workers.sh" >>"$RUN_DIR/app.log" 2>&1 &
	echo $! >"$RUN_DIR/workers.pid"
	setsid nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log" \
		>>"$RUN_DIR/nginx-error.log" 2>&1 &
	echo $! >"$RUN_DIR/nginx.pid"
	if ! wait_healthy; then
		say "the service did not become healthy; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" "$RUN_DIR/nginx-error.log" >&2 || true
		do_stop
		exit 1
	fi
	say "serving http://127.0.0.1:$PORT/ (database $DB_PATH, logs in $RUN_DIR)"
}

do_run() {
	do_start
	tail -n 0 -F "$RUN_DIR/app.log" "$RUN_DIR/access.log" &
	tail_pid=$!
	trap 'kill "$tail_pid" 2>/dev/null; do_stop; exit 0' INT TERM
	say "Ctrl-C stops it"
	# Returns when a signal arrives or when the workers or nginx are gone.
	while alive "$RUN_DIR/workers.pid" && alive "$RUN_DIR/nginx.pid"; do
		sleep 1
	done
	kill "$tail_pid" 2>/dev/null || true
	say "a part of the service exited; stopping the rest"
	do_stop
	exit 1
}

case ${1:-} in
start) do_start ;;
stop) do_stop ;;
run) do_run ;;
*) echo "usage: $0 start|stop|run" >&2; exit 2 ;;
esac
