#include "db_pg_conn.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/*
 * Running SQL on a PostgreSQL connection, and what a failure is: the
 * SQLSTATE's name, the server's message, and the db_result it maps to.
 */

/* The SQLSTATEs a worker acts on, with their names for logs and metrics. */
static const struct { const char *state; const char *name; } states[] = {
	{ "23505", "unique_violation" },
	{ "25006", "read_only_sql_transaction" },
	{ "40001", "serialization_failure" },
	{ "40P01", "deadlock_detected" },
	{ "55P03", "lock_not_available" },
	{ "57014", "query_canceled" },
	{ "57P01", "admin_shutdown" },
	{ "57P02", "crash_shutdown" },
	{ "57P03", "cannot_connect_now" },
	{ "08006", "connection_failure" },
};

/* PostgreSQL's own integer form of a SQLSTATE (MAKE_SQLSTATE). */
static int sqlstate_code(const char *s)
{
	int code = 0;

	for (int i = 0; i < 5 && s[i] != '\0'; i++)
		code |= ((s[i] - '0') & 0x3f) << (6 * i);
	return code;
}

void pg_record(struct db_pg *p, enum db_result res, const char *state,
		   const char *msg)
{
	char name[DB_ERRNAME_LEN];
	const char *known = "";

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(states[i].state, state) == 0)
			known = states[i].name;
	snprintf(name, sizeof(name), "PG_%s%s%s", state, known[0] ? "_" : "", known);
	db_fail_with(&p->base, res, sqlstate_code(state), name, "%s", msg);
	/* libpq's messages end in a newline and may span lines: one log line. */
	for (char *c = p->base.last_msg; *c != '\0'; c++)
		if (*c == '\n' || *c == '\t')
			*c = *(c + 1) == '\0' ? '\0' : ' ';
}

static enum db_result classify(const char *state, const char *constraint)
{
	if (strcmp(state, "23505") == 0 && constraint != NULL &&
	    strcmp(constraint, USERNAME_UNIQUE) == 0)
		return DB_CONSTRAINT;
	/* Class 23, integrity constraint violation: any other constraint. */
	if (strncmp(state, "23", 2) == 0)
		return DB_INTEGRITY;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return DB_RETRY;
	/* statement_timeout and lock_timeout: the busy timeout ran out. */
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0)
		return DB_BUSY;
	return DB_ERR;
}

enum db_result pg_fail(struct db_pg *p, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *msg = primary ? primary : PQerrorMessage(p->conn);
	enum db_result out;

	if (p->deadline_passed)
		msg = "no answer from the server before the deadline (DB_DEADLINE_MS)";
	/*
	 * A lost connection, a server that is shutting it down, or one that
	 * turned read-only (a primary demoted to a standby): a new connection
	 * finds the primary (target_session_attrs=read-write in the URL).
	 */
	if (PQstatus(p->conn) == CONNECTION_BAD ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 ||
			       strncmp(state, "57P0", 4) == 0 ||
			       strcmp(state, "25006") == 0)))
		p->broken = true;
	if (state == NULL)
		state = p->broken ? "08006" : "XX000";
	out = p->broken ? DB_ERR
			: classify(state, res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL);
	pg_record(p, out, state, msg && msg[0] ? msg : "no message from libpq");
	PQclear(res);
	return out;
}

enum db_result pg_check(struct db_pg *p, PGresult *res, ExecStatusType want)
{
	if (res != NULL && PQresultStatus(res) == want) {
		PQclear(res);
		return DB_OK;
	}
	return pg_fail(p, res);
}

enum db_result pg_exec(struct db_pg *p, const char *sql)
{
	return pg_check(p, pg_run_sql(p, sql), PGRES_COMMAND_OK);
}

enum db_result pg_query_text(struct db_pg *p, const char *sql, char *out,
			     size_t outlen)
{
	PGresult *res = pg_run_sql(p, sql);

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		PQclear(res);
		pg_record(p, DB_ERR, "XX000", "expected one value");
		return DB_ERR;
	}
	snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return DB_OK;
}

PGresult *pg_run_prepared(struct db_pg *p, enum pg_stmt st, const char *const *params)
{
	/* Outside a transaction (the matrix's autocommit): a request of its own. */
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		pg_deadline_start_request(p);
	return pg_run_named(p, pg_stmts[st].name, pg_stmts[st].nparams, params);
}

void pg_rollback_tx(struct db_pg *p)
{
	PGTransactionStatusType ts = PQtransactionStatus(p->conn);
	PGresult *res;

	/*
	 * Nothing to roll back: no transaction, or no connection any more (a
	 * broken one is closed, which rolls back on the server).
	 */
	if (ts == PQTRANS_IDLE || ts == PQTRANS_UNKNOWN || p->broken)
		return;
	res = pg_run_sql(p, "ROLLBACK");
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

		msg = msg[0] != '\0' ? msg : PQerrorMessage(p->conn);
		log_warn("rollback failed: %.*s", (int)strcspn(msg, "\n"), msg);
	}
	PQclear(res);	/* NULL is a no-op */
}
