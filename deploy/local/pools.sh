# shellcheck shell=sh
# deploy/local/stack.sh's worker pools (deploy/pool/workers.sh, each in a
# process group of its own, output to RUN_DIR/app.log): the first one of a
# start, and the swap of a resize.  Sourced by stack.sh.
#
# nginx connects to RUN_DIR/fcgi.sock, a symlink to the socket of the pool
# that serves (RUN_DIR/fcgi-G.sock, G counting the pools of this run). The
# settings the first pool started with (RUN_DIR/settings.env) are the ones a
# resize starts the new pool with: it changes the worker count alone.

# Starts workers.sh in the background, its pid in pid file $1.
spawn_pool() {
	# setsid: a Ctrl-C in the terminal reaches us, and we stop them in order.
	# 9>&-: the pool must not hold resize's lock.
	setsid "$WORKERS_SH" >>"$RUN_DIR/app.log" 2>&1 9>&- &
	write_pidfile "$1" $!
}

# Starts a pool on a socket of its own, RUN_DIR/fcgi-G.sock, its pid in pid
# file $1; prints the socket's path.
start_pool() {
	gen=$(($(cat "$RUN_DIR/pool.gen" 2>/dev/null || echo 0) + 1))
	echo "$gen" >"$RUN_DIR/pool.gen"
	SOCKET=$RUN_DIR/fcgi-$gen.sock spawn_pool "$1"
	echo "$RUN_DIR/fcgi-$gen.sock"
}

# The settings the first pool resolved, for a resize; not METRICS_PATH (each
# pool has its own) nor the worker count, nor DATABASE_URL (printed with its
# password masked: a resize keeps the environment's).
save_settings() {
	"$SQLITE_FCGI" config |
		sed -n '/^$/q;/^DATABASE_URL=/d;/^METRICS_PATH=/d;/^WORKERS=/d;/^PORT=/d;/=/p' \
		>"$RUN_DIR/settings.env"
}

load_settings() {
	while IFS= read -r line; do
		export "${line%%=*}=${line#*=}"
	done <"$RUN_DIR/settings.env"
	unset METRICS_PATH WEB_CONCURRENCY
}

# Starts the pool of this RUN_DIR and waits until it is up: on FCGI_LISTEN
# (TCP, recorded in RUN_DIR/pool.listen so that resize refuses it) or on a
# socket of its own behind the RUN_DIR/fcgi.sock link. Stops what it
# started and exits 1 when the pool does not come up.
start_local_pool() {
	rm -f "$RUN_DIR/pool.gen"
	save_settings
	listen=$(setting FCGI_LISTEN)
	if [ -n "$listen" ]; then
		echo "$listen" >"$RUN_DIR/pool.listen"
		METRICS_PATH=$RUN_DIR/fcgi-tcp.metrics spawn_pool "$RUN_DIR/workers.pid"
		set -- wait "$listen" "$(cat "$RUN_DIR/workers.pid")"
	else
		sock=$(start_pool "$RUN_DIR/workers.pid")
		set -- activate "$sock" "$SOCKET" "$(cat "$RUN_DIR/workers.pid")"
	fi
	if ! POOL_TIMEOUT=$START_TIMEOUT "$WORKERS_SH" "$@"; then
		say "the workers did not start; last log lines:"
		tail -n 20 "$RUN_DIR/app.log" >&2 || true
		stop_all
		exit 1
	fi
}

# resize N: a new pool of N workers on a socket of its own, the link
# switched to it once it is up, the old pool drained, then stopped.
resize() {
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
