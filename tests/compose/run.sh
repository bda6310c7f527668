#!/bin/sh
# make test-compose: docker-compose.yml for real. Validates the file, builds
# both images, starts the stack on a free loopback port, waits until both
# healthchecks pass, then:
#   1. tuned: locust (10 users, 10 s) through nginx; no failure allowed, and
#      N of the last "User created, num users: N" = the rows in the database
#      inside the volume = every request that succeeded;
#   2. the volume survives down/up, and sqlite3 .backup works through exec;
#   3. django-default: the same load now fails with 503 "database is locked",
#      and still no write is lost or half made;
# then down -v (the images stay cached for the next run).
#
# Uses "docker compose" where a Docker engine answers, else podman and
# podman-compose (deploy/containers.conf; the debian:bookworm-slim base
# image is made by tests/compose/base-image.sh when no registry is reachable).
#
# Environment: COMPOSE_ENGINE (docker|podman; default: detected),
# TEST_PORT (default: a free port), LOCUSTFILE (tests/load/locustfile.py),
# LOAD_USERS (10), LOAD_TIME (10s), KEEP_TMP=1 keeps the locust CSV files.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PYTHON=/usr/bin/python3
LOCUSTFILE=${LOCUSTFILE:-tests/load/locustfile.py}
LOAD_USERS=${LOAD_USERS:-10}
LOAD_TIME=${LOAD_TIME:-10s}
PROJECT=sqlite-fcgi-test-$$
DB=/var/lib/sqlite-fcgi/db.sqlite3
T0=$(date +%s)

say() { echo "test-compose: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
elapsed() { echo "$(($(date +%s) - T0))s"; }

# --- engine ---------------------------------------------------------------

engine=${COMPOSE_ENGINE:-}
if [ -z "$engine" ]; then
	if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 &&
		timeout 20 docker compose version >/dev/null 2>&1; then
		engine=docker
	else
		engine=podman
	fi
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sqlite-fcgi-compose.XXXXXX")
case $engine in
docker)
	ENGINE=docker
	COMPOSE="docker compose"
	;;
podman)
	if ! command -v podman >/dev/null 2>&1 || ! command -v podman-compose >/dev/null 2>&1; then
		fail "neither a Docker engine nor podman + podman-compose (deploy/install-deps.sh compose)"
	fi
	ENGINE=podman
	COMPOSE=podman-compose
	# The project's podman settings, with the default ulimits lowered to
	# the host's own hard limits where those are lower.
	CONTAINERS_CONF=$ROOT/deploy/containers.conf
	nofile=$(awk '/^Max open files/ { print $5 }' /proc/self/limits)
	nproc=$(awk '/^Max processes/ { print $4 }' /proc/self/limits)
	[ "$nofile" = unlimited ] && nofile=20000
	[ "$nproc" = unlimited ] && nproc=4096
	if [ "$nofile" -lt 20000 ] || [ "$nproc" -lt 4096 ]; then
		[ "$nofile" -gt 20000 ] && nofile=20000
		[ "$nproc" -gt 4096 ] && nproc=4096
		sed "s/^default_ulimits = .*/default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]/" \
			"$ROOT/deploy/containers.conf" >"$TMP/containers.conf"
		CONTAINERS_CONF=$TMP/containers.conf
	fi
	# Keep the Dockerfiles' HEALTHCHECK in the images (the OCI format drops it).
	BUILDAH_FORMAT=docker
	export CONTAINERS_CONF BUILDAH_FORMAT
	;;
*) fail "COMPOSE_ENGINE=$engine: must be docker or podman" ;;
esac
say "engine: $COMPOSE (project $PROJECT)"

# podman-compose 1.0 lets a .env beside the compose file win over the
# environment, so it would override what this test sets.
if [ "$engine" = podman ] && [ -f "$ROOT/.env" ]; then
	fail ".env exists in $ROOT and podman-compose would prefer it: move it away while the test runs"
fi

# shellcheck disable=SC2086 # COMPOSE is "docker compose" or podman-compose
compose() { timeout "${CT:-180}" $COMPOSE -p "$PROJECT" "$@"; }

# Containers of this project, by service (both tools set these labels).
ctr() {
	$ENGINE ps -q --filter "label=com.docker.compose.project=$PROJECT" \
		--filter "label=com.docker.compose.service=$1" | head -n 1
}

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ $rc -ne 0 ]; then
		for s in app nginx; do
			c=$(ctr "$s" || true)
			[ -n "$c" ] && { say "last log lines of $s:"; $ENGINE logs --tail 15 "$c" >&2 2>&1 || true; }
		done
	fi
	say "cleaning up"
	CT=120 compose down -v >"$TMP/down.log" 2>&1 || cat "$TMP/down.log" >&2
	# Whatever down left behind (an interrupted start): by label, this project only.
	left=$($ENGINE ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)
	# shellcheck disable=SC2086 # one id a word
	[ -n "$left" ] && $ENGINE rm -f $left >/dev/null 2>&1
	for v in data sock; do
		$ENGINE volume rm -f "${PROJECT}_$v" >/dev/null 2>&1 || true
	done
	$ENGINE network rm "${PROJECT}_default" >/dev/null 2>&1 || true
	if [ "${KEEP_TMP:-0}" = 1 ]; then say "files kept in $TMP"; else rm -rf "$TMP"; fi
	say "took $(elapsed) in all"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- validate, build ------------------------------------------------------

if command -v docker-compose >/dev/null 2>&1; then
	timeout 30 docker-compose -f docker-compose.yml config -q || fail "docker-compose config"
	say "docker-compose config: valid"
elif [ "$engine" = docker ]; then
	timeout 30 docker compose -f docker-compose.yml config -q || fail "docker compose config"
	say "docker compose config: valid"
else
	fail "no docker-compose to validate docker-compose.yml (deploy/install-deps.sh compose)"
fi

[ -f "$LOCUSTFILE" ] || fail "no $LOCUSTFILE"

if [ "$engine" = podman ]; then
	timeout 1200 "$ROOT/tests/compose/base-image.sh" || fail "no debian:bookworm-slim base image"
fi
say "building the images"
CT=1800 compose build >"$TMP/build.log" 2>&1 || { tail -n 30 "$TMP/build.log" >&2; fail "build"; }
say "images built ($(elapsed))"

# --- helpers --------------------------------------------------------------

free_port() {
	$PYTHON -c 'import socket
for _ in range(20):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p != 8000: print(p); break'
}
PORT=${TEST_PORT:-$(free_port)}
[ -n "$PORT" ] || fail "no free port"
URL=http://127.0.0.1:$PORT
export PORT
BIND_ADDRESS=127.0.0.1
export BIND_ADDRESS

# up PROFILE: starts the stack with that profile and waits for both
# healthchecks and for /healthz through the published port.
up() {
	SQLITE_PROFILE=$1 WORKERS=3 compose up -d >"$TMP/up.log" 2>&1 ||
		{ cat "$TMP/up.log" >&2; fail "up ($1)"; }
	i=0
	while :; do
		healthy=0
		for s in app nginx; do
			c=$(ctr "$s")
			[ -n "$c" ] || continue
			# podman runs healthchecks from systemd timers, absent here: run
			# the container's own healthcheck command now instead.
			[ "$engine" = podman ] && $ENGINE healthcheck run "$c" >/dev/null 2>&1
			st=$($ENGINE inspect --format '{{.State.Health.Status}}' "$c" 2>/dev/null || true)
			[ "$st" = healthy ] && healthy=$((healthy + 1))
		done
		if [ $healthy -eq 2 ] && curl -fsS -o /dev/null --max-time 3 "$URL/healthz" 2>/dev/null; then
			break
		fi
		i=$((i + 1))
		[ $i -lt 90 ] || fail "not healthy within 90 s ($1)"
		sleep 1
	done
	say "up and healthy with SQLITE_PROFILE=$1 on $URL ($(elapsed))"
}

down() { compose down >"$TMP/down.log" 2>&1 || { cat "$TMP/down.log" >&2; fail down; }; }

# sql STATEMENT: runs it with the sqlite3 shell inside the app container.
sql() { timeout 30 $ENGINE exec "$(ctr app)" sqlite3 -bail "$DB" "$1"; }
rows() { sql 'SELECT count(*) FROM auth_user;'; }

# load NAME: locust headless through nginx; sets REQS and FAILS from the
# run's final CSV, and keeps the failures CSV as $TMP/NAME_final_failures.csv.
load() {
	set +e
	timeout 120 $PYTHON -m locust -f "$LOCUSTFILE" --headless -u "$LOAD_USERS" \
		-r "$LOAD_USERS" -t "$LOAD_TIME" --stop-timeout 10 --host "$URL" \
		--csv "$TMP/$1" --only-summary >"$TMP/$1.log" 2>&1
	lrc=$?
	set -e
	csv=$TMP/$1_final_stats.csv
	[ -f "$csv" ] || csv=$TMP/$1_stats.csv
	[ -f "$csv" ] || { tail -n 30 "$TMP/$1.log" >&2; fail "locust wrote no CSV ($1, exit $lrc)"; }
	# shellcheck disable=SC2046 # seven numbers, one a word
	set -- $($PYTHON -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["Name"] == "Aggregated":
        print(r["Request Count"], r["Failure Count"], round(float(r["Requests/s"]), 1), r["50%"], r["95%"], r["99%"], r["Max Response Time"])' "$csv")
	REQS=$1 FAILS=$2
	say "locust: $REQS requests, $FAILS failures, $3 req/s, p50 $4 ms, p95 $5 ms, p99 $6 ms, max $7 ms"
}

# last_n: one more request; prints N of "User created, num users: N".
last_n() {
	body=$(curl -fsS --max-time 10 "$URL/create_user/") || fail "GET /create_user/ after the load"
	n=${body#User created, num users: }
	case $n in '' | *[!0-9]*) fail "unexpected body: $body" ;; esac
	echo "$n"
}

# --- 1. tuned -------------------------------------------------------------

up tuned
c=$(ctr app)
workers=$($ENGINE exec "$c" sqlite-fcgi config | sed -n 's/^WORKERS=//p')
[ "$workers" = 3 ] || fail "WORKERS=3 did not reach the app container (it says '$workers')"
[ "$($ENGINE exec "$c" id -u)" != 0 ] || fail "the app runs as root"
[ "$($ENGINE exec "$c" stat -c %a /run/sqlite-fcgi/fcgi.sock)" = 660 ] || fail "socket mode"
[ "$($ENGINE exec "$c" stat -c %a "$DB")" = 600 ] || fail "database mode"
[ "$($ENGINE exec "$c" stat -c %a "$(dirname "$DB")")" = 700 ] || fail "data directory mode"
say "app: uid $($ENGINE exec "$c" id -u), $workers workers, socket 0660, database 0600"

before=$(rows)
load tuned
[ "$FAILS" -eq 0 ] || { cat "$TMP/tuned_final_failures.csv" >&2 2>/dev/null; fail "$FAILS failures with the tuned profile"; }
[ "$REQS" -gt 0 ] || fail "locust made no request"
n=$(last_n)
count=$(rows)
say "tuned: last num users $n, rows in the volume's database $count (before $before, + $REQS + 1)"
[ "$n" -eq "$count" ] || fail "the last response says $n users, the database has $count"
[ "$count" -eq $((before + REQS + 1)) ] || fail "$REQS successful requests + 1, but rows went from $before to $count"
[ "$(sql 'PRAGMA integrity_check;')" = ok ] || fail "integrity_check"

# --- 2. the data volume outlives down/up; backups through exec -------------

down
up tuned
[ "$(rows)" -eq "$count" ] || fail "rows after down/up: $(rows), before: $count"
CT=60 compose exec -T app sqlite3 "$DB" ".backup /var/lib/sqlite-fcgi/backup.sqlite3" >/dev/null ||
	fail "sqlite3 .backup through compose exec"
$ENGINE cp "$(ctr app):/var/lib/sqlite-fcgi/backup.sqlite3" "$TMP/backup.sqlite3" || fail "cp of the backup"
backup_rows=$($PYTHON -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM auth_user").fetchone()[0])' "$TMP/backup.sqlite3")
[ "$backup_rows" -eq "$count" ] || fail "backup has $backup_rows rows, the database $count"
say "the volume kept $count rows across down/up; the backup has them all"

# --- 3. django-default ----------------------------------------------------

down
up django-default
before=$(rows)
load django
[ "$FAILS" -gt 0 ] || fail "no failure with SQLITE_PROFILE=django-default: the failure was not reproduced"
grep -q "database is locked" "$TMP/django_final_failures.csv" 2>/dev/null ||
	grep -q "database is locked" "$TMP/django_failures.csv" ||
	fail "failures, but not \"database is locked\": $(cat "$TMP/django_failures.csv")"
failures_csv=$TMP/django_final_failures.csv
[ -f "$failures_csv" ] || failures_csv=$TMP/django_failures.csv
say "django-default failures (count, name):"
$PYTHON -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print("   ", r["Occurrences"], r["Error"])' "$failures_csv" >&2
count=$(rows)
ok=$((REQS - FAILS))
say "django-default: $ok created, $FAILS failed; rows $before -> $count"
[ "$count" -eq $((before + ok)) ] || fail "$ok successful requests, but rows went from $before to $count"
[ "$(sql 'PRAGMA integrity_check;')" = ok ] || fail "integrity_check"

say "PASS ($(elapsed) before cleanup)"
