#!/bin/sh
# The worker pool.
#
#   workers.sh
#       starts the pool: migrates the database, then runs
#         spawn-fcgi -n -s SOCKET -M 0660 -- multiwatch -f WORKERS -- sqlite-fcgi serve
#       (or, with FCGI_LISTEN=ADDR:PORT, spawn-fcgi -n -a ADDR -p PORT ...)
#       in the foreground (spawn-fcgi and multiwatch exec, so this process
#       becomes multiwatch: signal it to stop the pool).
#   workers.sh wait ADDR:PORT PID [COUNT]
#       waits until the pool of multiwatch PID listens on TCP ADDR:PORT and
#       has COUNT workers (or at least one): activate's check, for a pool
#       that nginx reaches over TCP (there is no link to switch).
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
# Environment: SOCKET (the unix socket to create) or FCGI_LISTEN (ADDR:PORT:
# listen on TCP instead, for nginx on another host; ADDR an IPv4 address,
# [IPv6] or a name; no default address: a FastCGI port answers whoever
# reaches it, so bind the app host's private address, never 0.0.0.0 on a
# public network), SQLITE_FCGI (the binary, default
# sqlite-fcgi on PATH), and the settings of README.md (DB_PATH, WORKERS, ...).
# MULTIWATCH_RETRIES / MULTIWATCH_TIMEOUT_MS: a worker slot that dies more
# than RETRIES times, each within TIMEOUT_MS of its start, is given up on
# (a crash loop); a worker that lived longer is always restarted.
# POOL_TIMEOUT: seconds activate and drain wait at most (30).
set -eu

POOL_TIMEOUT=${POOL_TIMEOUT:-30}

say() { echo "workers.sh: $*" >&2; }

# Splits FCGI_LISTEN (ADDR:PORT, [IPv6]:PORT) into listen_addr and
# listen_port; a malformed value stops here with a message naming it.
parse_listen() {
	v=$1
	listen_port=${v##*:}
	listen_addr=${v%:*}
	case $listen_addr in \[*\]) listen_addr=${listen_addr#\[}; listen_addr=${listen_addr%\]} ;; esac
	case $v in *:*) ;; *) listen_port= ;; esac
	case $listen_port in '' | *[!0-9]*) listen_port= ;; esac
	if [ -z "$listen_addr" ] || [ -z "$listen_port" ] || [ "${#listen_port}" -gt 5 ] ||
		[ "$listen_port" -lt 1 ] || [ "$listen_port" -gt 65535 ]; then
		say "FCGI_LISTEN='$v': must be ADDR:PORT (127.0.0.2:9000, [::1]:9000), port 1-65535"
		exit 2
	fi
	case $listen_addr in *[!0-9A-Za-z.:-]*)
		say "FCGI_LISTEN='$v': the address may hold letters, digits, '.', '-' and ':' only"
		exit 2 ;;
	esac
}

start_pool() {
	listen=${FCGI_LISTEN:-}
	if [ -n "$listen" ]; then
		parse_listen "$listen"
		set -- -a "$listen_addr" -p "$listen_port"
		metrics_default=${TMPDIR:-/tmp}/sqlite-fcgi-$listen_addr-$listen_port.metrics
	else
		: "${SOCKET:?SOCKET must name the FastCGI socket to create (or FCGI_LISTEN an ADDR:PORT)}"
		set -- -s "$SOCKET" -M 0660
		metrics_default=$SOCKET.metrics
	fi
	SQLITE_FCGI=${SQLITE_FCGI:-sqlite-fcgi}
	MULTIWATCH_RETRIES=${MULTIWATCH_RETRIES:-10}
	MULTIWATCH_TIMEOUT_MS=${MULTIWATCH_TIMEOUT_MS:-1000}

	# Validates every setting (a bad one stops here, naming the variable) and
	# resolves the worker count (WORKERS, WEB_CONCURRENCY or CPUs + 1).
	settings=$("$SQLITE_FCGI" config)
	workers=$(printf '%s\n' "$settings" | sed -n 's/^WORKERS=//p')

	"$SQLITE_FCGI" migrate

	# The workers' shared counters (GET /metrics) start from zero with each pool.
	# Two pools on one database must not share one file: one per listener.
	METRICS_PATH=${METRICS_PATH:-$metrics_default}
	rm -f "$METRICS_PATH"
	export METRICS_PATH

	# spawn-fcgi execs without a PATH search: give it the full path.
	exec spawn-fcgi -n "$@" -- \
		"$(command -v multiwatch)" -f "$workers" -r "$MULTIWATCH_RETRIES" -t "$MULTIWATCH_TIMEOUT_MS" -- \
		"$SQLITE_FCGI" serve
}

# Listening: a unix socket path exists, or a TCP ADDR:PORT is in LISTEN
# state (ss prints an IPv6 address in brackets).
listening() {
	case $1 in
	/*) [ -S "$1" ] ;;
	*)
		parse_listen "$1"
		ss -Hltn 2>/dev/null | awk -v a="$listen_addr:$listen_port" \
			-v b="[$listen_addr]:$listen_port" '$4 == a || $4 == b { found = 1 } END { exit !found }' ;;
	esac
}

# Up when the socket listens and the pool has its workers, the same ones for
# three looks in a row (not a crash loop).
pool_up() {
	sock=$1 pid=$2 count=$3
	listening "$sock" || return 1
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

# Waits until the pool on $1 (a socket path or ADDR:PORT) of multiwatch $2
# is up with $3 workers (or at least one); exits 1 when it is not.
wait_up() {
	sock=$1 pid=$2 count=$3
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
}

activate() {
	if [ $# -lt 2 ] || [ $# -gt 4 ]; then
		say "usage: workers.sh activate SOCKET LINK [PID [COUNT]]"
		exit 2
	fi
	sock=$1 link=$2
	wait_up "$sock" "${3:-}" "${4:-}"
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
wait)
	if [ $# -lt 3 ] || [ $# -gt 4 ]; then
		say "usage: workers.sh wait ADDR:PORT PID [COUNT]"
		exit 2
	fi
	wait_up "$2" "$3" "${4:-}" ;;
drain) shift; drain "$@" ;;
*) say "usage: workers.sh | workers.sh activate SOCKET LINK [PID [COUNT]] | workers.sh wait ADDR:PORT PID [COUNT] | workers.sh drain SOCKET [LINK]"; exit 2 ;;
esac
