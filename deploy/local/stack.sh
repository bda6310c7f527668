#!/bin/sh
# The whole service on this machine: nginx on 127.0.0.1:PORT in front of the
# worker pool (deploy/pool/workers.sh), everything it writes under RUN_DIR.
# make run, make start and stop, make resize, the tools and the tests run it.
#
#   stack.sh start        start in the background; returns once /healthz answers
#   stack.sh stop         stop exactly what start started (pid files in RUN_DIR)
#   stack.sh run          start, follow the logs, and stop on Ctrl-C
#   stack.sh resize N     change the worker count to N without failing a
#                         request: a new pool of N workers on a socket of its
#                         own, the stable socket path switched to it, the old
#                         pool drained, then stopped gracefully
#   stack.sh start-pool   the worker pool alone (an app host behind an nginx
#                         elsewhere), on FCGI_LISTEN (ADDR:PORT) or on
#                         RUN_DIR/fcgi.sock; returns once its workers are up
#   stack.sh start-proxy  nginx alone, in front of the pools listed in
#                         APP_UPSTREAMS; returns once /healthz answers
#
# Several app hosts (docs/hosts.md): FCGI_LISTEN=ADDR:PORT makes the pool
# listen on TCP instead of the unix socket; APP_UPSTREAMS=HOST:PORT,... (or
# unix:/path entries) lists the pools nginx sends requests to (default: the
# pool this command starts). stop stops whichever of the two this RUN_DIR
# started. A pool on TCP is not resized in place (resize refuses it): start
# one on another port, list it in APP_UPSTREAMS, stop the old one.
#
# Its parts, beside it: processes.sh (pid files, stopping what was started),
# pools.sh (the pools and a resize), nginx.sh (nginx's config, start and
# health).
#
# Environment: RUN_DIR (var/run), SQLITE_FCGI (build/sqlite-fcgi),
# START_TIMEOUT (seconds; default POOL_TIMEOUT's), and every setting of
# README.md, passed on to the workers; sqlite-fcgi config resolves them (the
# defaults of PORT, DB_PATH, ... are the binary's).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=deploy/local/processes.sh
. "$HERE/processes.sh"
# shellcheck source=deploy/local/pools.sh
. "$HERE/pools.sh"
# shellcheck source=deploy/local/nginx.sh
. "$HERE/nginx.sh"

abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
RUN_DIR=$(abspath "${RUN_DIR:-var/run}")
SQLITE_FCGI=$(abspath "${SQLITE_FCGI:-$ROOT/build/sqlite-fcgi}")
SOCKET=$RUN_DIR/fcgi.sock
WORKERS_SH=$ROOT/deploy/pool/workers.sh
export SQLITE_FCGI

# The effective value of setting $1, as `sqlite-fcgi config` printed it.
setting() { printf '%s\n' "$CONFIG" | sed -n "/^\$/q;s/^$1=//p"; }

# The settings as the binary resolves them from the environment (and the
# NAME=value arguments): a bad one stops here, before anything starts, with
# the binary's message.
read_settings() {
	[ -x "$SQLITE_FCGI" ] || { say "$SQLITE_FCGI not built (run make)"; exit 1; }
	CONFIG=$(env "$@" "$SQLITE_FCGI" config)
	PORT=$(setting PORT)
	DB_PATH=$(abspath "$(setting DB_PATH)")
	START_TIMEOUT=${START_TIMEOUT:-$(setting POOL_TIMEOUT)}
	export PORT DB_PATH
}

# The upstreams nginx is rendered with: APP_UPSTREAMS, else this pool's
# listener (FCGI_LISTEN or the socket link).
upstreams() {
	if [ -n "${APP_UPSTREAMS:-}" ]; then
		echo "$APP_UPSTREAMS"
	elif [ -n "$(setting FCGI_LISTEN)" ]; then
		setting FCGI_LISTEN
	else
		echo "$SOCKET"
	fi
}

# Nothing of this RUN_DIR may run yet; settings read, directories made.
prepare() {
	refuse_if_running
	read_settings
	mkdir -p "$RUN_DIR" "$(dirname "$DB_PATH")"
}

do_start() {
	prepare
	render_nginx "$(upstreams)"
	start_local_pool
	start_nginx
	if ! wait_healthy with-pool; then
		say "the service did not become healthy; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" "$RUN_DIR/nginx-error.log" >&2 || true
		stop_all
		exit 1
	fi
	say "serving http://127.0.0.1:$PORT/ (database $DB_PATH, logs in $RUN_DIR)"
}

do_start_pool() {
	prepare
	start_local_pool
	say "workers up on $(cat "$RUN_DIR/pool.listen" 2>/dev/null || echo "$SOCKET")" \
		"(pid $(cat "$RUN_DIR/workers.pid"), database $DB_PATH, log in $RUN_DIR)"
}

do_start_proxy() {
	refuse_if_running
	[ -n "${APP_UPSTREAMS:-}" ] ||
		{ say "start-proxy needs APP_UPSTREAMS (HOST:PORT,... of the pools)"; exit 2; }
	# nginx/render.sh checks the upstreams as it writes them, naming a bad
	# entry; the binary is asked for the rest.
	read_settings APP_UPSTREAMS=
	mkdir -p "$RUN_DIR"
	render_nginx "$APP_UPSTREAMS"
	start_nginx
	if ! wait_healthy; then
		say "no pool of APP_UPSTREAMS=$APP_UPSTREAMS answered /healthz; last log lines:"
		tail -n 20 "$RUN_DIR/nginx-error.log" >&2 || true
		stop_all
		exit 1
	fi
	say "serving http://127.0.0.1:$PORT/ in front of $APP_UPSTREAMS (logs in $RUN_DIR)"
}

do_run() {
	do_start
	tail -n 0 -F "$RUN_DIR/app.log" "$RUN_DIR/access.log" &
	tail_pid=$!
	trap 'kill "$tail_pid" 2>/dev/null; stop_all; exit 0' INT TERM
	say "Ctrl-C stops it"
	# Returns when a signal arrives or when the workers or nginx are gone.
	while alive "$RUN_DIR/workers.pid" && alive "$RUN_DIR/nginx.pid"; do
		sleep 1
	done
	kill "$tail_pid" 2>/dev/null || true
	say "a part of the service exited; stopping the rest"
	stop_all
	exit 1
}

case ${1:-} in
start) do_start ;;
start-pool) do_start_pool ;;
start-proxy) do_start_proxy ;;
stop) stop_all ;;
run) do_run ;;
resize)
	[ $# -eq 2 ] || { echo "usage: $0 resize N" >&2; exit 2; }
	resize "$2" ;;
*) echo "usage: $0 start|start-pool|start-proxy|stop|run|resize N" >&2; exit 2 ;;
esac
