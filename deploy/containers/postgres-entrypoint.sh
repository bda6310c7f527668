#!/bin/sh
# Entry point of the PostgreSQL container (deploy/containers/Dockerfile.postgres).
#
# First start (no cluster in the volume): initdb into a scratch directory,
# then, on a server that listens on a private socket only, the application's
# role with the password POSTGRES_PASSWORD and its database; the directory is
# renamed to PGDATA only once all of that succeeded, so an interrupted first
# start is redone, not half kept. Later starts keep what the volume holds: a
# changed POSTGRES_PASSWORD does not change the role's (ALTER ROLE ...
# PASSWORD does, docs/postgresql.md).
# Then the server becomes this process (PID 1). It listens on the
# container's interfaces, and pg_hba.conf lets in password (SCRAM) logins
# from the container's own networks only ("samenet": the compose network),
# and peer logins on the unix socket (docker compose exec db psql).
#
# Environment: POSTGRES_PASSWORD (required on first start), POSTGRES_USER
# (sqlitefcgi), POSTGRES_DB (sqlitefcgi), PGDATA (the image's).
# With arguments, runs them instead (docker compose run db psql --version).
set -eu
umask 077

say() { echo "postgres-entrypoint: $*" >&2; }

[ $# -gt 0 ] && exec "$@"

user=${POSTGRES_USER:-sqlitefcgi}
db=${POSTGRES_DB:-sqlitefcgi}
# Names go into SQL unquoted: keep them to lower-case identifiers.
for name in "$user" "$db"; do
	case $name in
	'' | [!a-z_]* | *[!a-z0-9_]*)
		say "'$name': POSTGRES_USER and POSTGRES_DB must be lower-case letters, digits and _"
		exit 2 ;;
	esac
done

# Creates the cluster in $1, with the role and the database.
init_cluster() {
	dir=$1
	sock=$(mktemp -d)
	rm -rf "$dir"
	initdb -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 >/dev/null
	echo "host all all samenet scram-sha-256" >>"$dir/pg_hba.conf"
	# No TCP, and a socket nobody else looks at: the healthcheck stays
	# unhealthy until the real server starts.
	pg_ctl -D "$dir" -o "-c listen_addresses='' -c unix_socket_directories=$sock" \
		-w -t 60 -l "$dir/init.log" start >/dev/null
	# psql quotes the password itself (:'pw').
	printf "CREATE ROLE %s LOGIN PASSWORD :'pw';\nCREATE DATABASE %s OWNER %s;\n" \
		"$user" "$db" "$user" |
		psql -XAtq -v ON_ERROR_STOP=1 -v pw="$POSTGRES_PASSWORD" -h "$sock" -d postgres
	pg_ctl -D "$dir" -m fast -w -t 60 stop >/dev/null
	rm -rf "$sock" "$dir/init.log"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		say "POSTGRES_PASSWORD is empty: set it (in .env) before the first start"
		exit 2
	fi
	say "no cluster in $PGDATA: initdb, role $user, database $db"
	init_cluster "$PGDATA.new"
	mv "$PGDATA.new" "$PGDATA"
	say "initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
