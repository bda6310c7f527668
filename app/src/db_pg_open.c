#include "db_pg_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pg_mask.h"
#include "log.h"

/*
 * The PostgreSQL engine's connection: DATABASE_URL checked by libpq, the
 * session settings, the schema version checked, the statements prepared.
 */


int pg_check_config(const struct config *cfg, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *opts;

	if (pg_url_has_stray_at(cfg->database_url)) {
		snprintf(err, errlen, "DATABASE_URL: an '@' after the user info (libpq would"
			 " read part of the password as the host or database name): write"
			 " '@' as %%40 and '/' as %%2F in the password");
		return -1;
	}
	opts = PQconninfoParse(cfg->database_url, &msg);
	if (opts != NULL) {
		pg_conninfo_free(opts);
		return 0;
	}
	/* libpq's message may quote any part of the URL, the password too. */
	if (msg == NULL || !pg_url_message_is_safe(cfg->database_url))
		snprintf(err, errlen, "DATABASE_URL: libpq cannot parse it (its message"
			 " is not shown: it may quote the password)");
	else
		snprintf(err, errlen, "DATABASE_URL=%s: %s", cfg->database_url, msg);
	/* One line: libpq's messages end in a newline. */
	err[strcspn(err, "\n")] = '\0';
	PQfreemem(msg);
	return -1;
}

/* libpq rounds a connect_timeout of 1 up to 2 s; 0 would wait forever. */
static long connect_timeout_s(const struct config *cfg)
{
	long s = (cfg->busy_timeout_ms + 999) / 1000;

	return s < 2 ? 2 : s;
}

/*
 * The busy timeout bounds each lock wait, as SQLITE_BUSY_TIMEOUT_MS bounds
 * SQLite's wait for its write lock, and twice that bounds each statement
 * (a lock wait included), so that a wait for a lock is reported as one
 * (55P03) and a statement slow for another reason still ends (57014).
 * Both are answered 503.  (0 turns both off in PostgreSQL.)  The session's
 * TimeZone is UTC, as Django sets it (USE_TZ): a timestamp's text, such as
 * GET /users/'s date_joined, is UTC as SQLite's is, whatever the server's.
 */
static const char settings_sql[] =
	"SELECT set_config('lock_timeout', $1, false),"
	" set_config('statement_timeout', $2, false),"
	" set_config('TimeZone', 'UTC', false)";

void pg_print_plan(const struct config *cfg, FILE *out)
{
	PQconninfoOption *opts = PQconninfoParse(cfg->database_url, NULL);

	fprintf(out, "-- engine: postgresql (libpq %d); from DATABASE_URL:", PQlibVersion());
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (o->val != NULL && o->val[0] != '\0')
			fprintf(out, " %s=%s", o->keyword,
				pg_option_is_secret(o) ? "***" : o->val);
	fprintf(out, "\nPQconnectdbParams(connect_timeout=%ld, application_name=sqlite-fcgi,"
		" then DATABASE_URL's own);\n", connect_timeout_s(cfg));
	pg_conninfo_free(opts);
	fprintf(out, "%s;  -- $1 = '%ld', $2 = '%ld' (ms)\n", settings_sql,
		cfg->busy_timeout_ms, 2 * cfg->busy_timeout_ms);
	fprintf(out, "SELECT version FROM sqlitefcgi_schema_version;  -- must be %d\n",
		PG_SCHEMA_VERSION);
	for (int i = 0; i < PG_NSTMT; i++)
		fprintf(out, "PREPARE %s AS %s;\n", pg_stmts[i].name, pg_stmts[i].sql);
	fprintf(out, "BEGIN;  -- READ COMMITTED, each /create_user/ transaction, password"
		" hashed %s; EXECUTE sqlitefcgi_recent, _insert, _count; COMMIT;\n",
		cfg->hash_when == HASH_BEFORE_BEGIN ? "before BEGIN"
						     : "inside the transaction");
	fprintf(out, "BEGIN;  -- READ COMMITTED, each transaction of the matrix (docs/matrix.md);"
		" the others: autocommit\n");
}

static enum db_result apply_settings(struct db_pg *p, char *err, size_t errlen)
{
	char lock_ms[24], statement_ms[24];
	const char *params[2] = { lock_ms, statement_ms };
	PGresult *res;

	snprintf(lock_ms, sizeof(lock_ms), "%ld", p->cfg->busy_timeout_ms);
	snprintf(statement_ms, sizeof(statement_ms), "%ld", 2 * p->cfg->busy_timeout_ms);
	res = PQexecParams(p->conn, settings_sql, 2, NULL, params, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_fail(p, res);
		snprintf(err, errlen, "applying the session settings: %s", p->base.last_msg);
		return DB_ERR;
	}
	PQclear(res);
	return DB_OK;
}

static enum db_result check_schema(struct db_pg *p, char *err, size_t errlen)
{
	char version[16];

	if (pg_query_text(p, "SELECT max(version) FROM sqlitefcgi_schema_version",
			  version, sizeof(version)) != DB_OK) {
		snprintf(err, errlen, "reading the schema version: %s (run sqlite-fcgi"
			 " migrate)", p->base.last_msg);
		return DB_ERR;
	}
	if (atoi(version) != PG_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %s, this program needs %d"
			 " (run sqlite-fcgi migrate)", version, PG_SCHEMA_VERSION);
		return DB_ERR;
	}
	return DB_OK;
}

static enum db_result prepare_all(struct db_pg *p, char *err, size_t errlen)
{
	for (int i = 0; i < PG_NSTMT; i++) {
		PGresult *res = PQprepare(p->conn, pg_stmts[i].name, pg_stmts[i].sql,
					  pg_stmts[i].nparams, NULL);

		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			pg_fail(p, res);
			snprintf(err, errlen, "preparing \"%s\": %s", pg_stmts[i].sql,
				 p->base.last_msg);
			return DB_ERR;
		}
		PQclear(res);
	}
	return DB_OK;
}

/* The server's notices ("already exists, skipping") are not for the log. */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

enum db_result pg_connect(struct db_pg *p, char *err, size_t errlen)
{
	char timeout[24];
	char masked[CONFIG_URL_MAX + 16];
	/* Ours first: a value DATABASE_URL gives overrides it (expand_dbname). */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *values[] = { timeout, "sqlite-fcgi", p->cfg->database_url, NULL };

	snprintf(timeout, sizeof(timeout), "%ld", connect_timeout_s(p->cfg));
	p->conn = PQconnectdbParams(keys, values, 1);
	if (p->conn == NULL) {
		snprintf(err, errlen, "connecting: out of memory");
		return DB_ERR;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_mask_url(p->cfg->database_url, masked, sizeof(masked));
		snprintf(err, errlen, "connecting to DATABASE_URL=%s: %s", masked,
			 PQerrorMessage(p->conn));
		err[strcspn(err, "\n")] = '\0';
		return DB_ERR;
	}
	/* Returns the previous processor, not a result: nothing to check. */
	(void)PQsetNoticeProcessor(p->conn, drop_notice, NULL);
	if (apply_settings(p, err, errlen) != DB_OK)
		return DB_ERR;
	if (p->mode == DB_OPEN_MIGRATE)
		return DB_OK;
	if (check_schema(p, err, errlen) != DB_OK || prepare_all(p, err, errlen) != DB_OK)
		return DB_ERR;
	return DB_OK;
}

void pg_disconnect(struct db_pg *p)
{
	PQfinish(p->conn);	/* NULL is a no-op */
	p->conn = NULL;
}

enum db_result pg_open(struct db *db, const struct config *cfg,
		       enum db_open_mode mode, char *err, size_t errlen)
{
	struct db_pg *p = pg(db);

	p->cfg = cfg;
	p->mode = mode;
	if (pg_connect(p, err, errlen) == DB_OK)
		return DB_OK;
	pg_disconnect(p);
	return DB_ERR;
}

void pg_close(struct db *db)
{
	pg_disconnect(pg(db));
}
