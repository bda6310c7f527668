#!/bin/sh
# The whole service on this machine: nginx on 127.0.0.1:PORT in front of the
# worker pool (deploy/pool/workers.sh), everything it writes under RUN_DIR.
#
#   deploy/local/stack.sh start   start in the background; returns once /healthz answers
#   deploy/local/stack.sh stop    stop exactly what start started (pid files in RUN_DIR)
#   deploy/local/stack.sh run     start, follow the logs, and stop on Ctrl-C
#   deploy/local/stack.sh resize N  change the worker count to N without failing a
#                           request: a new pool of N workers on a socket of its
#                           own, the stable socket path switched to it, the old
#                           pool drained, then stopped gracefully
#   deploy/local/stack.sh start-pool   the worker pool alone (an app host behind an
#                           nginx elsewhere), on FCGI_LISTEN (ADDR:PORT) or on
#                           RUN_DIR/fcgi.sock; returns once its workers are up
#   deploy/local/stack.sh start-proxy  nginx alone, in front of the pools listed in
#                           APP_UPSTREAMS; returns once /healthz answers
#
# Several app hosts (docs/hosts.md): FCGI_LISTEN=ADDR:PORT makes the pool
# listen on TCP instead of the unix socket; APP_UPSTREAMS=HOST:PORT,... (or
# unix:/path entries) lists the pools nginx sends requests to (default: the
# pool this command starts). stop stops whichever of the two this RUN_DIR
# started. A pool on TCP is not resized in place (resize refuses it): start
# one on another port, list it in APP_UPSTREAMS, stop the old one.
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

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
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
WORKERS_SH=$ROOT/deploy/pool/workers.sh

say() { echo "stack: $*" >&2; }

# Alive until reaped: a stop waits for that, so that nothing of the stack is
# left in the process table when it returns.
pid_alive() { kill -0 "$1" 2>/dev/null; }

# A stop looks every 20 ms whether what it signalled is gone: an idle nginx
# or pool exits within milliseconds, and each stop of a test's stack waits
# for it. STOP_POLLS_PER_S looks make one second of the stop's bound.
STOP_POLL_S=0.02
STOP_POLLS_PER_S=50

alive() { [ -f "$1" ] && pid_alive "$(cat "$1")"; }

# Some process of group $1 is alive (or not reaped yet).
group_alive() { pgrep -g "$1" >/dev/null 2>&1; }

# Stops what is left of the process group $1 (start_pool makes multiwatch,
# start_nginx the nginx master, a session and group leader): workers whose
# multiwatch was killed, or nginx workers whose master was, get TERM
# (workers finish the request in flight), then KILL after $2 s.
stop_group() {
	pgid=$1 wait_s=$2
	group_alive "$pgid" || return 0
	say "stopping processes left behind by process group $pgid"
	kill -TERM "-$pgid" 2>/dev/null || true
	i=0
	while group_alive "$pgid" && [ $i -lt $((wait_s * STOP_POLLS_PER_S)) ]; do
		sleep "$STOP_POLL_S"
		i=$((i + 1))
	done
	kill -KILL "-$pgid" 2>/dev/null || true
}

# Sends sig to the process in pid file $1 and waits up to $2 seconds for it
# to go; then kills it (and, for multiwatch, the workers it leaves behind).
# With $4 = group, also stops the rest of its process group, even when the
# process itself is already gone (kill -9 of multiwatch).
stop_pidfile() {
	pidfile=$1 wait_s=$2 sig=$3 group=${4:-}
	if ! alive "$pidfile"; then
		if [ -n "$group" ] && [ -f "$pidfile" ]; then
			stop_group "$(cat "$pidfile")" "$wait_s"
		fi
		rm -f "$pidfile"
		return 0
	fi
	pid=$(cat "$pidfile")
	children=$(pgrep -P "$pid" 2>/dev/null || true)
	kill "-$sig" "$pid" 2>/dev/null || true
	i=0
	while pid_alive "$pid" && [ $i -lt $((wait_s * STOP_POLLS_PER_S)) ]; do
		sleep "$STOP_POLL_S"
		i=$((i + 1))
	done
	if pid_alive "$pid"; then
		say "pid $pid did not stop within ${wait_s}s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
	[ -z "$group" ] || stop_group "$pid" "$wait_s"
	rm -f "$pidfile"
}

do_stop() {
	# nginx first (QUIT: finish the requests in flight), then the workers
	# (multiwatch sends them its graceful signal: finish, then exit).
	stop_pidfile "$RUN_DIR/nginx.pid" 15 QUIT group
	# A resize in progress has three pools at most: stop them all.
	for p in workers workers.new workers.old; do
		stop_pidfile "$RUN_DIR/$p.pid" 15 TERM group
	done
	rm -f "$SOCKET" "$RUN_DIR"/fcgi-*.sock "$RUN_DIR"/fcgi-*.sock.metrics \
		"$RUN_DIR/pool.gen" "$RUN_DIR/settings.env" "$RUN_DIR/resize.lock" \
		"$RUN_DIR/pool.listen" "$RUN_DIR/fcgi-tcp.metrics"
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
		export "${line%%=*}=${line#*=}"
	done <"$RUN_DIR/settings.env"
	unset METRICS_PATH WEB_CONCURRENCY
}

# Waits for /healthz through nginx; with an argument, also gives up when
# the local pool (workers.pid) is gone.
wait_healthy() {
	i=0
	while [ $i -lt $((START_TIMEOUT * 10)) ]; do
		if { [ -n "${1:-}" ] && ! alive "$RUN_DIR/workers.pid"; } || ! alive "$RUN_DIR/nginx.pid"; then
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
	"$ROOT/nginx/render.sh" "$RUN_DIR" "$RUN_DIR" "127.0.0.1:$PORT" "$1" "$user" \
		>"$RUN_DIR/nginx.conf"
}

refuse_if_running() {
	if alive "$RUN_DIR/workers.pid" || alive "$RUN_DIR/workers.new.pid" ||
		alive "$RUN_DIR/workers.old.pid" || alive "$RUN_DIR/nginx.pid"; then
		say "already running in $RUN_DIR (stop it first: make stop RUN_DIR=$RUN_DIR)"
		exit 1
	fi
}

# The upstreams nginx is rendered with: APP_UPSTREAMS, else this pool's
# listener (FCGI_LISTEN or the socket link).
upstreams() {
	if [ -n "${APP_UPSTREAMS:-}" ]; then
		echo "$APP_UPSTREAMS"
	elif [ -n "${FCGI_LISTEN:-}" ]; then
		echo "$FCGI_LISTEN"
	else
		echo "$SOCKET"
	fi
}

# Starts the pool of this RUN_DIR and waits until it is up: on FCGI_LISTEN
# (TCP, recorded in RUN_DIR/pool.listen so that resize refuses it) or on a
# socket of its own behind the RUN_DIR/fcgi.sock link. Stops what it
# started and exits 1 when the pool does not come up.
start_local_pool() {
	rm -f "$RUN_DIR/pool.gen"
	save_settings
	if [ -n "${FCGI_LISTEN:-}" ]; then
		echo "$FCGI_LISTEN" >"$RUN_DIR/pool.listen"
		METRICS_PATH=$RUN_DIR/fcgi-tcp.metrics setsid "$WORKERS_SH" \
			>>"$RUN_DIR/app.log" 2>&1 9>&- &
		write_pidfile "$RUN_DIR/workers.pid" $!
		set -- wait "$FCGI_LISTEN" "$(cat "$RUN_DIR/workers.pid")"
	else
		sock=$(start_pool "$RUN_DIR/workers.pid")
		set -- activate "$sock" "$SOCKET" "$(cat "$RUN_DIR/workers.pid")"
	fi
	if ! POOL_TIMEOUT=$START_TIMEOUT "$WORKERS_SH" "$@"; then
		say "the workers did not start; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" >&2 || true
		do_stop
		exit 1
	fi
}

start_nginx() {
	# What nginx says before it opens its error log goes to the same file;
	# both append, and nothing in this pipeline reads it.
	# shellcheck disable=SC2094
	setsid nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log" \
		>>"$RUN_DIR/nginx-error.log" 2>&1 &
	echo $! >"$RUN_DIR/nginx.pid"
}

do_start() {
	refuse_if_running
	[ -x "$SQLITE_FCGI" ] || { say "$SQLITE_FCGI not built (run make)"; exit 1; }
	# A bad setting stops here, before anything starts.
	"$SQLITE_FCGI" config >/dev/null
	mkdir -p "$RUN_DIR" "$(dirname "$DB_PATH")"
	render_nginx "$(upstreams)"
	nginx -q -t -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log"
	start_local_pool
	start_nginx
	if ! wait_healthy with-pool; then
		say "the service did not become healthy; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" "$RUN_DIR/nginx-error.log" >&2 || true
		do_stop
		exit 1
	fi
	say "serving http://127.0.0.1:$PORT/ (database $DB_PATH, logs in $RUN_DIR)"
}

do_start_pool() {
	refuse_if_running
	[ -x "$SQLITE_FCGI" ] || { say "$SQLITE_FCGI not built (run make)"; exit 1; }
	"$SQLITE_FCGI" config >/dev/null
	mkdir -p "$RUN_DIR" "$(dirname "$DB_PATH")"
	start_local_pool
	say "workers up on $(cat "$RUN_DIR/pool.listen" 2>/dev/null || echo "$SOCKET")" \
		"(pid $(cat "$RUN_DIR/workers.pid"), database $DB_PATH, log in $RUN_DIR)"
}

do_start_proxy() {
	refuse_if_running
	[ -n "${APP_UPSTREAMS:-}" ] ||
		{ say "start-proxy needs APP_UPSTREAMS (HOST:PORT,... of the pools)"; exit 2; }
	mkdir -p "$RUN_DIR"
	render_nginx "$APP_UPSTREAMS"
	nginx -q -t -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log"
	start_nginx
	if ! wait_healthy; then
		say "no pool of APP_UPSTREAMS=$APP_UPSTREAMS answered /healthz; last log lines:"
		tail -n 20 "$RUN_DIR/nginx-error.log" >&2 || true
		do_stop
		exit 1
	fi
	say "serving http://127.0.0.1:$PORT/ in front of $APP_UPSTREAMS (logs in $RUN_DIR)"
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
	if ! alive "$RUN_DIR/workers.pid" || [ ! -f "$RUN_DIR/settings.env" ]; then
		say "not running in $RUN_DIR (make start first)"
		exit 1
	fi
	if [ -f "$RUN_DIR/pool.listen" ]; then
		say "the pool listens on TCP $(cat "$RUN_DIR/pool.listen"): resize swaps unix sockets;" \
			"start a pool on another port, list it in APP_UPSTREAMS, stop this one"
		exit 1
	fi
	exec 9>"$RUN_DIR/resize.lock"
	flock -n 9 || { say "another resize is running in $RUN_DIR"; exit 1; }
	load_settings
	export WORKERS="$count"
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
start-pool) do_start_pool ;;
start-proxy) do_start_proxy ;;
stop) do_stop ;;
run) do_run ;;
resize)
	[ $# -eq 2 ] || { echo "usage: $0 resize N" >&2; exit 2; }
	do_resize "$2" ;;
*) echo "usage: $0 start|start-pool|start-proxy|stop|run|resize N" >&2; exit 2 ;;
esac
