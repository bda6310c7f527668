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
# With a streaming standby (docker-compose.standby.yml): on the primary,
# POSTGRES_REPLICATION_PASSWORD makes initdb add the role "replicator"
# (REPLICATION, that password) and let it in from the same networks, and
# POSTGRES_SYNCHRONOUS_STANDBY=NAME writes synchronous_standby_names = 'NAME'
# into the cluster's configuration: a COMMIT returns once that standby has it.
# A container with POSTGRES_PRIMARY_HOST is that standby: its first start
# copies the primary with pg_basebackup -R (application_name
# POSTGRES_STANDBY_NAME), later starts stream from where it left off.
#
# Environment: POSTGRES_PASSWORD (required on a primary's first start),
# POSTGRES_USER (sqlitefcgi), POSTGRES_DB (sqlitefcgi), PGDATA (the image's),
# and the replication settings above.
# With arguments, runs them instead (docker compose run db psql --version).
set -eu
umask 077

say() { echo "postgres-entrypoint: $*" >&2; }

[ $# -gt 0 ] && exec "$@"

user=${POSTGRES_USER:-sqlitefcgi}
db=${POSTGRES_DB:-sqlitefcgi}
replicator=replicator
standby=${POSTGRES_STANDBY_NAME:-standby1}
# Names go into SQL and configuration unquoted: keep them to lower-case
# identifiers.
for name in "$user" "$db" "$standby" "${POSTGRES_SYNCHRONOUS_STANDBY:-x}"; do
	case $name in
	'' | [!a-z_]* | *[!a-z0-9_]*)
		say "'$name': POSTGRES_USER, POSTGRES_DB and the standby names must be lower-case letters, digits and _"
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
	init_replication "$dir" "$sock"
	pg_ctl -D "$dir" -m fast -w -t 60 stop >/dev/null
	rm -rf "$sock" "$dir/init.log"
}

# The replication role and the synchronous standby's name, when asked for.
# synchronous_standby_names goes into the configuration only after the roles
# exist (each CREATE would wait for the standby otherwise), and into the
# cluster's own file, which pg_basebackup copies: a promoted standby has it
# too, which is why the promotion clears it (postgres-promote.sh).
init_replication() {
	dir=$1 sock=$2
	if [ -n "${POSTGRES_REPLICATION_PASSWORD:-}" ]; then
		echo "host replication $replicator samenet scram-sha-256" >>"$dir/pg_hba.conf"
		echo "CREATE ROLE $replicator REPLICATION LOGIN PASSWORD :'pw';" |
			psql -XAtq -v ON_ERROR_STOP=1 -v pw="$POSTGRES_REPLICATION_PASSWORD" \
				-h "$sock" -d postgres
	fi
	if [ -n "${POSTGRES_SYNCHRONOUS_STANDBY:-}" ]; then
		echo "synchronous_standby_names = '$POSTGRES_SYNCHRONOUS_STANDBY'" \
			>>"$dir/postgresql.conf"
	fi
}

# The standby's cluster in $1: a copy of the primary's, streaming from it
# (-R: standby.signal and primary_conninfo, the password included).
copy_primary() {
	dir=$1
	rm -rf "$dir"
	PGPASSWORD=$POSTGRES_REPLICATION_PASSWORD pg_basebackup -D "$dir" -R -X stream -c fast \
		-d "host=$POSTGRES_PRIMARY_HOST port=5432 user=$replicator application_name=$standby"
}

if [ -n "${POSTGRES_PRIMARY_HOST:-}" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_REPLICATION_PASSWORD:-}" ]; then
		say "POSTGRES_REPLICATION_PASSWORD is empty: the standby cannot log in to $POSTGRES_PRIMARY_HOST"
		exit 2
	fi
	say "no cluster in $PGDATA: copying $POSTGRES_PRIMARY_HOST (pg_basebackup), standby $standby"
	copy_primary "$PGDATA.new"
	mv "$PGDATA.new" "$PGDATA"
	say "copied; streaming from $POSTGRES_PRIMARY_HOST"
elif [ ! -s "$PGDATA/PG_VERSION" ]; then
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
