# shellcheck shell=sh
# deploy/local/stack.sh's nginx: its configuration under RUN_DIR (rendered by
# nginx/render.sh), its start, and waiting until the service answers through
# it.  Sourced by stack.sh.

# nginx.conf for upstreams $1 (comma-separated, as render.sh takes them),
# checked by nginx itself.
render_nginx() {
	# As root, nginx's workers would drop to "nobody", which may not reach a
	# socket in a private RUN_DIR: keep them as the user who started us.
	user=""
	[ "$(id -u)" -eq 0 ] && user="$(id -un) $(id -gn)"
	mkdir -p "$RUN_DIR/nginx-tmp"
	METRICS_ALLOW=$(setting METRICS_ALLOW) "$ROOT/nginx/render.sh" "$RUN_DIR" "$RUN_DIR" "127.0.0.1:$PORT" "$1" "$user" \
		>"$RUN_DIR/nginx.conf"
	nginx -q -t -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log"
}

start_nginx() {
	# What nginx says before it opens its error log goes to the same file;
	# both append, and nothing in this pipeline reads it.
	# shellcheck disable=SC2094
	setsid nginx -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/nginx-error.log" \
		>>"$RUN_DIR/nginx-error.log" 2>&1 &
	echo $! >"$RUN_DIR/nginx.pid"
}

# 0 when /healthz answers through nginx, 1 not yet, 2 when nginx (or, with
# an argument, the local pool) is gone.
healthy() {
	if ! alive "$RUN_DIR/nginx.pid" || { [ -n "${1:-}" ] && ! alive "$RUN_DIR/workers.pid"; }; then
		return 2
	fi
	curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/healthz" 2>/dev/null || return 1
}

# Waits START_TIMEOUT seconds at most for /healthz (see healthy), looking
# every 0.1 s.
wait_healthy() { poll $((START_TIMEOUT * 10)) 0.1 healthy "${1:-}"; }
