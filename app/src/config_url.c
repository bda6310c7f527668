#include "config_table.h"
#include "db_pg_mask.h"

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

/*
 * DATABASE_URL holds a PostgreSQL URL or nothing (sqlite:/// moves to
 * DB_PATH); how libpq reads it decides what is a password, so the PostgreSQL
 * engine prints it (db_pg_mask.c).
 */
void config_mask_url(const char *url, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	if (url[0] == '\0') {
		out[0] = '\0';
		return;
	}
	pg_mask_url(url, out, outlen);
}
