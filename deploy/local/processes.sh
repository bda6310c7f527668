# shellcheck shell=sh
# deploy/local/stack.sh's processes: the pid files of what it started under
# RUN_DIR, and stopping exactly those.  Sourced by stack.sh.

say() { echo "stack: $*" >&2; }

# poll TRIES INTERVAL CHECK [ARG...]: runs CHECK until it succeeds (0),
# INTERVAL seconds between tries; 1 after TRIES more, or at once when CHECK
# says 2 (it never will).
poll() {
	tries=$1 interval=$2 i=0
	shift 2
	while :; do
		"$@" && return 0 || rc=$?
		{ [ "$rc" -eq 1 ] && [ "$i" -lt "$tries" ]; } || return 1
		sleep "$interval"
		i=$((i + 1))
	done
}

# A stop looks every 20 ms whether what it signalled is gone: an idle nginx
# or pool exits within milliseconds, and each stop of a test's stack waits
# for it.  stop_within SECONDS CHECK [ARG...]
stop_within() {
	secs=$1
	shift
	poll $((secs * 50)) 0.02 "$@"
}

# Alive until reaped: a stop waits for that, so that nothing of the stack is
# left in the process table when it returns.
pid_alive() { kill -0 "$1" 2>/dev/null; }
pid_gone() { ! pid_alive "$1"; }

alive() { [ -f "$1" ] && pid_alive "$(cat "$1")"; }

# Some process of group $1 is alive (or not reaped yet).
group_alive() { pgrep -g "$1" >/dev/null 2>&1; }
group_gone() { ! group_alive "$1"; }

# Writes pid $2 to pid file $1 in one rename, so that it is never missing.
write_pidfile() {
	echo "$2" >"$1.tmp"
	mv -f "$1.tmp" "$1"
}

# Stops what is left of the process group $1 (a pool's multiwatch and
# nginx's master each lead one): workers whose multiwatch was killed, or
# nginx workers whose master was, get TERM (workers finish the request in
# flight), then KILL after $2 s.
stop_group() {
	pgid=$1 wait_s=$2
	group_alive "$pgid" || return 0
	say "stopping processes left behind by process group $pgid"
	kill -TERM "-$pgid" 2>/dev/null || true
	stop_within "$wait_s" group_gone "$pgid" || true
	kill -KILL "-$pgid" 2>/dev/null || true
}

# Sends sig $3 to the process in pid file $1 and waits up to $2 seconds for
# it to go; then kills it (and, for multiwatch, the workers it leaves
# behind). With $4 = group, also stops the rest of its process group, even
# when the process itself is already gone (kill -9 of multiwatch).
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
	if ! stop_within "$wait_s" pid_gone "$pid"; then
		say "pid $pid did not stop within ${wait_s}s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
	[ -z "$group" ] || stop_group "$pid" "$wait_s"
	rm -f "$pidfile"
}

# Any pool or nginx of this RUN_DIR alive.
any_alive() {
	for p in workers workers.new workers.old nginx; do
		alive "$RUN_DIR/$p.pid" && return 0
	done
	return 1
}

refuse_if_running() {
	if any_alive; then
		say "already running in $RUN_DIR (stop it first: make stop RUN_DIR=$RUN_DIR)"
		exit 1
	fi
}

# nginx first (QUIT: it finishes the requests in flight), then the pools
# (multiwatch sends the workers its graceful signal: finish, then exit): a
# resize in progress has three at most.
stop_all() {
	stop_pidfile "$RUN_DIR/nginx.pid" 15 QUIT group
	for p in workers workers.new workers.old; do
		stop_pidfile "$RUN_DIR/$p.pid" 15 TERM group
	done
	rm -f "$RUN_DIR/fcgi.sock" "$RUN_DIR"/fcgi-*.sock "$RUN_DIR"/fcgi-*.sock.metrics \
		"$RUN_DIR/pool.gen" "$RUN_DIR/settings.env" "$RUN_DIR/resize.lock" \
		"$RUN_DIR/pool.listen" "$RUN_DIR/fcgi-tcp.metrics"
}
