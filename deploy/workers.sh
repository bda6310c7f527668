#!/bin/sh
# The worker pool.
#
#   workers.sh
#       starts the pool: migrates the database, then runs
#         spawn-fcgi -n -s SOCKET -M 0660 -- multiwatch -f WORKERS -- sqlite-fcgi serve
#       in the foreground (spawn-fcgi and multiwatch exec, so this process
#       becomes multiwatch: signal it to stop the pool).
#   workers.sh activate SOCKET LINK [PID [COUNT]]
#       waits until the pool on SOCKET is up (the socket exists and, given
#       PID, the pool's multiwatch, it has COUNT workers, or at least one),
#       then points the symlink LINK at SOCKET in one rename(2): nginx,
#       which connects to LINK anew for each request, sends every new
#       request to that pool from then on.
#   workers.sh drain SOCKET [LINK]
#       waits until no connection is queued on SOCKET any more, so that a
#       pool which LINK no longer points at can be stopped without resetting
#       connections it has not accepted yet. Returns at once when LINK still
#       points at SOCKET (a plain stop: nothing else will take the requests).
#
# Environment: SOCKET (required to start), SQLITE_FCGI (the binary, default
# sqlite-fcgi on PATH), and the settings of README.md (DB_PATH, WORKERS, ...).
# MULTIWATCH_RETRIES / MULTIWATCH_TIMEOUT_MS: a worker slot that dies more
# than RETRIES times, each within TIMEOUT_MS of its start, is given up on
# (a crash loop); a worker that lived longer is always restarted.
# POOL_TIMEOUT: seconds activate and drain wait at most (30).
set -eu

POOL_TIMEOUT=${POOL_TIMEOUT:-30}

say() { echo "workers.sh: $*" >&2; }

start_pool() {
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
}

# Up when the socket exists and the pool has its workers, the same ones for
# three looks in a row (not a crash loop).
pool_up() {
	sock=$1 pid=$2 count=$3
	[ -S "$sock" ] || return 1
	[ -n "$pid" ] || return 0
	kids=$(pgrep -P "$pid" 2>/dev/null | sort | tr '\n' ' ' || true)
	n=$(printf '%s' "$kids" | wc -w)
	if [ "$n" -lt 1 ] || { [ -n "$count" ] && [ "$n" -ne "$count" ]; }; then
		seen=0
		return 1
	fi
	[ "$kids" = "${last_kids:-}" ] && seen=$((seen + 1)) || seen=1
	last_kids=$kids
	[ "$seen" -ge 3 ]
}

activate() {
	if [ $# -lt 2 ] || [ $# -gt 4 ]; then
		say "usage: workers.sh activate SOCKET LINK [PID [COUNT]]"
		exit 2
	fi
	sock=$1 link=$2 pid=${3:-} count=${4:-}
	seen=0 last_kids='' i=0
	until pool_up "$sock" "$pid" "$count"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			say "the pool on $sock exited before it was up"
			exit 1
		fi
		if [ $i -ge $((POOL_TIMEOUT * 10)) ]; then
			say "the pool on $sock is not up after ${POOL_TIMEOUT}s"
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	# Relative when beside the link, so that the directory can be moved.
	target=$sock
	[ "$(dirname "$sock")" = "$(dirname "$link")" ] && target=$(basename "$sock")
	tmp=$link.new.$$
	ln -s "$target" "$tmp"
	mv -T "$tmp" "$link"
}

# The connections waiting in the listen queue of the socket bound at $1
# (ss shows it as Recv-Q of a listening unix socket); empty if none.
queued() {
	ss -xlH 2>/dev/null | awk -v p="$1" '$5 == p { print $3; exit }'
}

drain() {
	if [ $# -lt 1 ] || [ $# -gt 2 ]; then
		say "usage: workers.sh drain SOCKET [LINK]"
		exit 2
	fi
	sock=$1 link=${2:-}
	if [ -n "$link" ] && [ "$(readlink -f "$link" 2>/dev/null)" = "$(readlink -f "$sock")" ]; then
		return 0
	fi
	if ! command -v ss >/dev/null 2>&1; then
		say "ss (iproute2) not found: waiting 2s instead of watching the queue of $sock"
		sleep 2
		return 0
	fi
	# A connect() that found the socket through the old link just before
	# the switch is queued by the time we look; empty three looks in a row.
	empty=0 i=0
	while [ $empty -lt 3 ]; do
		q=$(queued "$sock")
		if [ -z "$q" ] || [ "$q" -eq 0 ]; then
			empty=$((empty + 1))
		else
			empty=0
		fi
		if [ $i -ge $((POOL_TIMEOUT * 10)) ]; then
			say "$q connections still queued on $sock after ${POOL_TIMEOUT}s: stopping anyway"
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

case ${1:-} in
"") start_pool ;;
activate) shift; activate "$@" ;;
drain) shift; drain "$@" ;;
*) say "usage: workers.sh | workers.sh activate SOCKET LINK [PID [COUNT]] | workers.sh drain SOCKET [LINK]"; exit 2 ;;
esac
