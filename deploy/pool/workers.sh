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
# public network), SQLITE_FCGI (the binary; default: the one installed beside
# this script, PREFIX/bin/sqlite-fcgi for PREFIX/lib/sqlite-fcgi/workers.sh,
# else sqlite-fcgi on PATH), and the settings of README.md (DB_PATH, WORKERS,
# ...). MULTIWATCH_RETRIES / MULTIWATCH_TIMEOUT_MS: a worker slot that dies
# more than RETRIES times, each within TIMEOUT_MS of its start, is given up on
# (a crash loop); a worker that lived longer is always restarted.
# POOL_TIMEOUT: seconds activate, wait and drain wait at most. Every setting
# is checked, and its default given, by the binary (sqlite-fcgi config).
set -eu

say() { echo "workers.sh: $*" >&2; }

# The binary: SQLITE_FCGI, else the one installed beside this script (make
# install and the app image put it in PREFIX/bin/, this script in
# PREFIX/lib/sqlite-fcgi/), else sqlite-fcgi on PATH.
if [ -z "${SQLITE_FCGI:-}" ]; then
	SQLITE_FCGI=sqlite-fcgi
	beside=$(dirname "$0")/../../bin/sqlite-fcgi
	[ -x "$beside" ] && SQLITE_FCGI=$beside
fi

# Every setting checked (a bad one stops here, naming the variable) and
# resolved (WORKERS: WORKERS, WEB_CONCURRENCY or CPUs + 1) by the binary.
settings=$("$SQLITE_FCGI" config)
setting() { printf '%s\n' "$settings" | sed -n "/^\$/q;s/^$1=//p"; }
POOL_TIMEOUT=$(setting POOL_TIMEOUT)

# poll CHECK [ARG...]: runs CHECK every 0.1 s until it succeeds; 1 once
# POOL_TIMEOUT seconds have passed.
poll() {
	i=0
	until "$@"; do
		[ "$i" -lt $((POOL_TIMEOUT * 10)) ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# Splits ADDR:PORT (FCGI_LISTEN, which the binary has checked; [IPv6]:PORT)
# into listen_addr and listen_port.
split_listen() {
	listen_port=${1##*:}
	listen_addr=${1%:*}
	case $listen_addr in \[*\]) listen_addr=${listen_addr#\[}; listen_addr=${listen_addr%\]} ;; esac
}

start_pool() {
	listen=$(setting FCGI_LISTEN)
	if [ -n "$listen" ]; then
		split_listen "$listen"
		set -- -a "$listen_addr" -p "$listen_port"
		# A TCP pool's counters go beside the database (DB_PATH as resolved,
		# sqlite:/// included), in the service's own directory: never in a
		# shared one such as /tmp, where another user could plant the name.
		metrics_default=$(setting DB_PATH)-metrics-$listen_addr-$listen_port
	else
		: "${SOCKET:?SOCKET must name the FastCGI socket to create (or FCGI_LISTEN an ADDR:PORT)}"
		set -- -s "$SOCKET" -M 0660
		metrics_default=$SOCKET.metrics
	fi

	"$SQLITE_FCGI" migrate

	# The workers' shared counters (GET /metrics) start from zero with each pool.
	# Two pools on one database must not share one file: one per listener.
	METRICS_PATH=${METRICS_PATH:-$metrics_default}
	rm -f "$METRICS_PATH"
	export METRICS_PATH

	# spawn-fcgi execs without a PATH search: give it the full path.
	exec spawn-fcgi -n "$@" -- "$(command -v multiwatch)" -f "$(setting WORKERS)" \
		-r "$(setting MULTIWATCH_RETRIES)" -t "$(setting MULTIWATCH_TIMEOUT_MS)" -- \
		"$SQLITE_FCGI" serve
}

# Listening: a unix socket path exists, or a TCP ADDR:PORT is in LISTEN
# state (ss prints an IPv6 address in brackets).
listening() {
	case $1 in
	/*) [ -S "$1" ] ;;
	*)
		split_listen "$1"
		ss -Hltn 2>/dev/null | awk -v a="$listen_addr:$listen_port" \
			-v b="[$listen_addr]:$listen_port" '$4 == a || $4 == b { found = 1 } END { exit !found }' ;;
	esac
}

# Up when the socket listens and the pool has its workers, the same ones for
# three looks in a row (not a crash loop); exits 1 when multiwatch is gone.
pool_up() {
	sock=$1 pid=$2 count=$3
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		say "the pool on $sock exited before it was up"
		exit 1
	fi
	listening "$sock" || return 1
	[ -n "$pid" ] || return 0
	kids=$(pgrep -P "$pid" 2>/dev/null | sort | tr '\n' ' ' || true)
	n=$(printf '%s' "$kids" | wc -w)
	if [ "$n" -lt 1 ] || { [ -n "$count" ] && [ "$n" -ne "$count" ]; }; then
		seen=0
		return 1
	fi
	[ "$kids" = "$last_kids" ] && seen=$((seen + 1)) || seen=1
	last_kids=$kids
	[ "$seen" -ge 3 ]
}

# Waits until the pool on $1 (a socket path or ADDR:PORT) of multiwatch $2
# is up with $3 workers (or at least one); exits 1 when it is not.
wait_up() {
	seen=0 last_kids=''
	poll pool_up "$1" "$2" "$3" && return 0
	say "the pool on $1 is not up after ${POOL_TIMEOUT}s"
	exit 1
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

# Nothing queued on socket $1 three looks in a row: a connect() that found
# the socket through the old link just before the switch is queued by the
# time we look.
drained() {
	q=$(queued "$1")
	if [ -z "$q" ] || [ "$q" -eq 0 ]; then
		empty=$((empty + 1))
	else
		empty=0
	fi
	[ "$empty" -ge 3 ]
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
	empty=0
	poll drained "$sock" ||
		say "$q connections still queued on $sock after ${POOL_TIMEOUT}s: stopping anyway"
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
