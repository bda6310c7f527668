#!/bin/sh
# Promotes the standby this runs in to primary (docker-compose.standby.yml):
#
#   docker compose ... exec db-standby promote-standby
#
# First clears synchronous_standby_names: the standby keeps the primary's
# from the base backup, and a primary that has no standby of its own to wait
# for would make every COMMIT wait forever. Then promotes, and waits until
# the server takes writes. Run it again and it only clears the setting.
# The old primary must be stopped first (docs/containers.md): this script
# cannot reach it.
set -eu

sql() {
	psql -XAtq -v ON_ERROR_STOP=1 -h /run/postgresql -d postgres -c "$1"
}

sql "ALTER SYSTEM SET synchronous_standby_names = ''"
sql "SELECT pg_reload_conf()" >/dev/null
if [ "$(sql 'SELECT pg_is_in_recovery()')" = t ]; then
	# Waits up to 60 s for the promotion to finish; false if it did not.
	[ "$(sql 'SELECT pg_promote(true, 60)')" = t ] || {
		echo "promote-standby: the promotion did not finish within 60 s" >&2
		exit 1
	}
fi
echo "promote-standby: this server is the primary; synchronous_standby_names cleared"
