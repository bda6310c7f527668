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

/* libpq rounds a connect_timeout of 1 up to 2 s. */
static long as_libpq_waits(long s)
{
	return s < 2 ? 2 : s;
}

/* Ours, from the busy timeout (0 would wait forever). */
static long connect_timeout_s(const struct config *cfg)
{
	return as_libpq_waits((cfg->busy_timeout_ms + 999) / 1000);
}

/*
 * The connect timeout in effect (DATABASE_URL's own, or ours) and the
 * number of hosts libpq may try, each for up to that long.
 */
static void url_connect_limits(const struct config *cfg, long *timeout_s, long *hosts)
{
	PQconninfoOption *opts = PQconninfoParse(cfg->database_url, NULL);

	*timeout_s = connect_timeout_s(cfg);
	*hosts = 1;
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0 && atol(o->val) > 0)
			*timeout_s = as_libpq_waits(atol(o->val));
		if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0) {
			long n = 1;

			for (const char *c = o->val; *c != '\0'; c++)
				n += *c == ',';
			*hosts = n > *hosts ? n : *hosts;
		}
	}
	pg_conninfo_free(opts);
}

long pg_connect_budget_ms(const struct config *cfg)
{
	long timeout_s, hosts;

	url_connect_limits(cfg, &timeout_s, &hosts);
	return timeout_s * hosts * 1000;
}

/*
 * The TCP parameters of each connection: a server that stops answering
 * (a partition, a host gone without a reset) is given up after the connect
 * timeout, as one that never answered would be: tcp_user_timeout for data
 * sent and not acknowledged, keepalives (one probe a second) while
 * waiting for an answer.  DATABASE_URL's own values win.
 */
struct tcp_params {
	char timeout[24], user_timeout_ms[24], probes[24];
};

static void tcp_params_fill(const struct config *cfg, struct tcp_params *t)
{
	long timeout_s, hosts;

	url_connect_limits(cfg, &timeout_s, &hosts);
	snprintf(t->timeout, sizeof(t->timeout), "%ld", connect_timeout_s(cfg));
	snprintf(t->user_timeout_ms, sizeof(t->user_timeout_ms), "%ld", timeout_s * 1000);
	snprintf(t->probes, sizeof(t->probes), "%ld", timeout_s);
}

/*
 * The busy timeout bounds each lock wait, as SQLITE_BUSY_TIMEOUT_MS bounds
 * SQLite's wait for its write lock, and twice that bounds each statement
 * (a lock wait included), so that a wait for a lock is reported as one
 * (55P03) and a statement slow for another reason still ends (57014).
 * Both are answered 503.  (0 turns both off in PostgreSQL.)  The session's
 * TimeZone is UTC, as Django sets it (USE_TZ): a timestamp's text, such as
 * GET /users/'s date_joined, is UTC as SQLite's is, whatever the server's.
 * idle_in_transaction_session_timeout, half the busy timeout: a transaction
 * whose client went silent (its host partitioned, its connection hung)
 * holds the count row's lock; the server ends it soon enough that the
 * creators queued behind it get the lock before their own lock_timeout.
 */
static const char settings_sql[] =
	"SELECT set_config('lock_timeout', $1, false),"
	" set_config('statement_timeout', $2, false),"
	" set_config('idle_in_transaction_session_timeout', $3, false),"
	" set_config('TimeZone', 'UTC', false)";

static long idle_in_transaction_ms(const struct config *cfg)
{
	return cfg->busy_timeout_ms / 2 < 1000 ? 1000 : cfg->busy_timeout_ms / 2;
}

void pg_print_plan(const struct config *cfg, FILE *out)
{
	PQconninfoOption *opts = PQconninfoParse(cfg->database_url, NULL);
	struct tcp_params tcp = { .timeout = "" };

	fprintf(out, "-- engine: postgresql (libpq %d); from DATABASE_URL:", PQlibVersion());
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (o->val != NULL && o->val[0] != '\0')
			fprintf(out, " %s=%s", o->keyword,
				pg_option_is_secret(o) ? "***" : o->val);
	tcp_params_fill(cfg, &tcp);
	fprintf(out, "\nPQconnectdbParams(connect_timeout=%s, application_name=sqlite-fcgi,"
		" keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=%s,"
		" tcp_user_timeout=%s, then DATABASE_URL's own);\n", tcp.timeout, tcp.probes,
		tcp.user_timeout_ms);
	pg_conninfo_free(opts);
	fprintf(out, "%s;  -- $1 = '%ld', $2 = '%ld', $3 = '%ld' (ms)\n", settings_sql,
		cfg->busy_timeout_ms, 2 * cfg->busy_timeout_ms, idle_in_transaction_ms(cfg));
	fprintf(out, "-- each request's waits for the server end within DB_DEADLINE_MS=%ld ms"
		" (connecting again included; a connect takes up to %ld ms)\n",
		cfg->db_deadline_ms, pg_connect_budget_ms(cfg));
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
	char lock_ms[24], statement_ms[24], idle_ms[24];
	const char *params[3] = { lock_ms, statement_ms, idle_ms };
	PGresult *res;

	snprintf(lock_ms, sizeof(lock_ms), "%ld", p->cfg->busy_timeout_ms);
	snprintf(statement_ms, sizeof(statement_ms), "%ld", 2 * p->cfg->busy_timeout_ms);
	snprintf(idle_ms, sizeof(idle_ms), "%ld", idle_in_transaction_ms(p->cfg));
	res = pg_run_params(p, settings_sql, 3, params);
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
		PGresult *res = pg_run_prepare(p, pg_stmts[i].name, pg_stmts[i].sql,
					       pg_stmts[i].nparams);

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

enum db_result pg_connect(struct db_pg *p, char *err, size_t errlen)
{
	struct tcp_params tcp = { .timeout = "" };
	char masked[CONFIG_URL_MAX + 16];
	/* Ours first: a value DATABASE_URL gives overrides it (expand_dbname). */
	const char *const keys[] = { "connect_timeout", "application_name", "keepalives",
				     "keepalives_idle", "keepalives_interval",
				     "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	const char *values[] = { tcp.timeout, "sqlite-fcgi", "1", "1", "1", tcp.probes,
				 tcp.user_timeout_ms, p->cfg->database_url, NULL };

	tcp_params_fill(p->cfg, &tcp);
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
	/* Returns the previous receiver, not a result: nothing to check. */
	(void)PQsetNoticeReceiver(p->conn, pg_notice_received, p);
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

/*
 * Starts the open's deadline: the request's (db_open_at), or one from now.
 * True, with err, when what is left of the request's deadline is shorter
 * than a connect may take (a partition answers nothing for connect_timeout
 * per host): it answers 503 now rather than past its deadline.  A budget
 * that exceeds the whole deadline cannot be kept in any case: the connect
 * is tried (sqlite-fcgi config prints both).
 */
static bool no_time_to_connect(struct db_pg *p, char *err, size_t errlen)
{
	long left;

	if (p->base.request_start_ns == 0) {
		pg_deadline_start(p);
		return false;
	}
	pg_deadline_from(p, p->base.request_start_ns);
	left = pg_deadline_left_ms(p);
	if (left >= p->connect_budget_ms || p->connect_budget_ms >= p->cfg->db_deadline_ms)
		return false;
	snprintf(err, errlen, "not connecting: %ld ms left before the request's deadline"
		 " (DB_DEADLINE_MS), a connect may take %ld", left, p->connect_budget_ms);
	return true;
}

enum db_result pg_open(struct db *db, const struct config *cfg,
		       enum db_open_mode mode, char *err, size_t errlen)
{
	struct db_pg *p = pg(db);

	p->cfg = cfg;
	p->mode = mode;
	p->connect_budget_ms = pg_connect_budget_ms(cfg);
	if (no_time_to_connect(p, err, errlen))
		return DB_BUSY;
	if (pg_connect(p, err, errlen) == DB_OK)
		return DB_OK;
	pg_disconnect(p);
	return DB_ERR;
}

void pg_close(struct db *db)
{
	pg_disconnect(pg(db));
}
