#!/bin/sh
# The whole service on this machine: nginx on 127.0.0.1:PORT in front of the
# worker pool (deploy/workers.sh), everything it writes under RUN_DIR.
#
#   deploy/stack.sh start   start in the background; returns once /healthz answers
#   deploy/stack.sh stop    stop exactly what start started (pid files in RUN_DIR)
#   deploy/stack.sh run     start, follow the logs, and stop on Ctrl-C
#   deploy/stack.sh resize N  change the worker count to N without failing a
#                           request: a new pool of N workers on a socket of its
#                           own, the stable socket path switched to it, the old
#                           pool drained, then stopped gracefully
#
# nginx connects to RUN_DIR/fcgi.sock, a symlink to the socket of the pool
# that serves (RUN_DIR/fcgi-G.sock, G counting the pools of this run). The
# settings the first pool started with (RUN_DIR/settings.env) are the ones a
# resize starts the new pool with: it changes the worker count alone.
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
export PORT DB_PATH SQLITE_FCGI
WORKERS_SH=$ROOT/deploy/workers.sh

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
	# A resize in progress has three pools at most: stop them all.
	for p in workers workers.new workers.old; do
		stop_pidfile "$RUN_DIR/$p.pid" 15 TERM
	done
	rm -f "$SOCKET" "$RUN_DIR"/fcgi-*.sock "$RUN_DIR"/fcgi-*.sock.metrics \
		"$RUN_DIR/pool.gen" "$RUN_DIR/settings.env" "$RUN_DIR/resize.lock"
}

# Writes pid $2 to pid file $1 in one rename, so that it is never missing.
write_pidfile() {
	echo "$2" >"$1.tmp"
	mv -f "$1.tmp" "$1"
}

# Starts a pool of the workers on a socket of its own, RUN_DIR/fcgi-G.sock,
# in the background with its pid in pid file $1; prints the socket's path.
start_pool() {
	gen=$(( $(cat "$RUN_DIR/pool.gen" 2>/dev/null || echo 0) + 1 ))
	echo "$gen" >"$RUN_DIR/pool.gen"
	sock=$RUN_DIR/fcgi-$gen.sock
	# setsid: a Ctrl-C in the terminal reaches us, and we stop them in order.
	# 9>&-: the pool must not hold resize's lock.
	SOCKET=$sock setsid "$WORKERS_SH" >>"$RUN_DIR/app.log" 2>&1 9>&- &
	write_pidfile "$1" $!
	echo "$sock"
}

# The settings the first pool resolved (sqlite-fcgi config), for a resize;
# not METRICS_PATH (each pool has its own) nor the worker count, nor
# DATABASE_URL (printed with its password masked: a resize keeps the
# environment's).
save_settings() {
	{
		"$SQLITE_FCGI" config | sed -n '/^$/q;/^DATABASE_URL=/d;/^METRICS_PATH=/d;/^WORKERS=/d;/^PORT=/d;/=/p'
		[ -z "${MULTIWATCH_RETRIES+x}" ] || echo "MULTIWATCH_RETRIES=$MULTIWATCH_RETRIES"
		[ -z "${MULTIWATCH_TIMEOUT_MS+x}" ] || echo "MULTIWATCH_TIMEOUT_MS=$MULTIWATCH_TIMEOUT_MS"
	} >"$RUN_DIR/settings.env"
}

load_settings() {
	while IFS= read -r line; do
		export "$line"
	done <"$RUN_DIR/settings.env"
	unset METRICS_PATH WEB_CONCURRENCY
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
	if alive "$RUN_DIR/workers.pid" || alive "$RUN_DIR/workers.new.pid" ||
		alive "$RUN_DIR/workers.old.pid" || alive "$RUN_DIR/nginx.pid"; then
		say "already running in $RUN_DIR (stop it first: make stop RUN_DIR=$RUN_DIR)"
		exit 1
	fi
	[ -x "$SQLITE_FCGI" ] || { say "$SQLITE_FCGI not built (run make)"; exit 1; }
	# A bad setting stops here, before anything starts.
	"$SQLITE_FCGI" config >/dev/null
	mkdir -p "$RUN_DIR" "$(dirname "$DB_PATH")"
	render_nginx
	nginx -q -t -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log"
	rm -f "$RUN_DIR/pool.gen"
	save_settings
	sock=$(start_pool "$RUN_DIR/workers.pid")
	if ! POOL_TIMEOUT=$START_TIMEOUT "$WORKERS_SH" activate "$sock" "$SOCKET" \
		"$(cat "$RUN_DIR/workers.pid")"; then
		say "the workers did not start; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" >&2 || true
		do_stop
		exit 1
	fi
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

do_resize() {
	count=$1
	alive "$RUN_DIR/workers.pid" && [ -f "$RUN_DIR/settings.env" ] ||
		{ say "not running in $RUN_DIR (make start first)"; exit 1; }
	exec 9>"$RUN_DIR/resize.lock"
	flock -n 9 || { say "another resize is running in $RUN_DIR"; exit 1; }
	load_settings
	export WORKERS=$count
	# A bad count stops here, before anything starts.
	"$SQLITE_FCGI" config >/dev/null
	old_pid=$(cat "$RUN_DIR/workers.pid")
	old_sock=$RUN_DIR/$(basename "$(readlink "$SOCKET")")
	new_sock=$(start_pool "$RUN_DIR/workers.new.pid")
	if ! "$WORKERS_SH" activate "$new_sock" "$SOCKET" "$(cat "$RUN_DIR/workers.new.pid")" "$count"; then
		say "the new pool did not start; the old one keeps serving"
		stop_pidfile "$RUN_DIR/workers.new.pid" 15 TERM
		rm -f "$new_sock" "$new_sock.metrics"
		exit 1
	fi
	# New requests go to the new pool now. The old one answers what it has
	# accepted and what is queued on its socket, then stops gracefully.
	write_pidfile "$RUN_DIR/workers.old.pid" "$old_pid"
	mv -f "$RUN_DIR/workers.new.pid" "$RUN_DIR/workers.pid"
	"$WORKERS_SH" drain "$old_sock" "$SOCKET"
	stop_pidfile "$RUN_DIR/workers.old.pid" 15 TERM
	rm -f "$old_sock" "$old_sock.metrics"
	say "$count workers on $(basename "$new_sock") (pid $(cat "$RUN_DIR/workers.pid")); the old pool has stopped"
}

case ${1:-} in
start) do_start ;;
stop) do_stop ;;
run) do_run ;;
resize)
	[ $# -eq 2 ] || { echo "usage: $0 resize N" >&2; exit 2; }
	do_resize "$2" ;;
*) echo "usage: $0 start|stop|run|resize N" >&2; exit 2 ;;
esac
