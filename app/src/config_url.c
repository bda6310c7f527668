#include "config_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* DATABASE_URL: which engine it names, and how it is printed (masked). */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * DATABASE_URL, as dj-database-url reads it: postgres:// or postgresql://
 * (libpq checks the rest: db_check_config), or sqlite:///PATH (PATH
 * relative, sqlite:////PATH absolute) in place of DB_PATH.  The value is
 * never copied into err: it may hold a password.
 */
int config_parse_database_url(const char *v, struct config *cfg, char *err,
			      size_t errlen)
{
	cfg->engine = ENGINE_SQLITE;
	if (v[0] == '\0')
		return 0;
	if (starts_with(v, "sqlite:///")) {
		v += strlen("sqlite:///");
		if (v[0] == '\0' || strlen(v) >= sizeof(cfg->db_path)) {
			snprintf(err, errlen, "DATABASE_URL: sqlite:/// must be followed by"
				 " a path shorter than %zu bytes", sizeof(cfg->db_path));
			return -1;
		}
		strcpy(cfg->db_path, v);
		return 0;
	}
	if (!starts_with(v, "postgres://") && !starts_with(v, "postgresql://")) {
		snprintf(err, errlen, "DATABASE_URL: must start with postgres://,"
			 " postgresql:// or sqlite:/// (or be unset: SQLite at DB_PATH)");
		return -1;
	}
	if (strlen(v) >= sizeof(cfg->database_url)) {
		snprintf(err, errlen, "DATABASE_URL: must be shorter than %zu bytes",
			 sizeof(cfg->database_url));
		return -1;
	}
	strcpy(cfg->database_url, v);
	cfg->engine = ENGINE_POSTGRES;
	return 0;
}
