#include "db_pg_conn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * The PostgreSQL engine: its statements, transactions and errors, and the
 * table of operations db.c calls (db_pg_ops, at the end).  Connecting,
 * settings and schema are in db_pg_open.c.
 */

const struct pg_stmt_def pg_stmts[PG_NSTMT] = {
	/* The seed view reads whole rows: User.objects.all()[:DB_RECENT_USERS]. */
	[PG_RECENT] = { "sqlitefcgi_recent",
		"SELECT id, password, last_login, is_superuser, username,"
		" first_name, last_name, email, is_staff, is_active, date_joined"
		" FROM auth_user LIMIT " DB_STR(DB_RECENT_USERS), 0 },
	/*
	 * The values Django's create_user() stores.  ON CONFLICT DO NOTHING:
	 * a taken username inserts no row and leaves the transaction usable.
	 * A PostgreSQL transaction is aborted by any error, and users.c draws
	 * a new random name and inserts again in the same transaction.  A
	 * concurrent insert of the same name is waited for, as a unique index
	 * would.  Any other violation (the primary key, a NOT NULL) is still
	 * an error.
	 */
	[PG_INSERT] = { "sqlitefcgi_insert",
		"INSERT INTO auth_user (password, last_login, is_superuser,"
		" username, first_name, last_name, email, is_staff, is_active,"
		" date_joined) VALUES ($1, NULL, false, $2, '', '', $3, false,"
		" true, now()) ON CONFLICT (username) DO NOTHING", 3 },
	/* The count the insert's trigger has just updated: see db_pg_open.c. */
	[PG_COUNT] = { "sqlitefcgi_count",
		"SELECT n FROM sqlitefcgi_user_count WHERE id = 1", 0 },
	/*
	 * GET /users/: newest first, from id $1 down (an index scan of the
	 * primary key for every page: no "$1 = 0 OR" that a generic plan
	 * turns into a walk from the newest row).
	 */
	[PG_PAGE] = { "sqlitefcgi_page",
		"SELECT id, username, date_joined::text FROM auth_user"
		" WHERE id <= $1::bigint ORDER BY id DESC LIMIT $2::integer", 2 },
	/* The matrix: Row.objects.all()[:DB_ROWS_READ], whole rows. */
	[PG_ROWS_READ] = { "sqlitefcgi_rows_read",
		"SELECT id, name, campaign, voice, recognize, inside, growth, side,"
		" yard, discussion FROM basic_model_row LIMIT " DB_STR(DB_ROWS_READ), 0 },
	/* The texts are $1-$7, the floats $8 and $9: see pg_row_insert(). */
	[PG_ROW_INSERT] = { "sqlitefcgi_row_insert",
		"INSERT INTO basic_model_row (name, campaign, voice, recognize, inside,"
		" growth, side, yard, discussion) VALUES ($1, $2, $3, $4, $8, $5, $9,"
		" $6, $7) RETURNING id", 9 },
};

/* The constraint Django's migration names for the unique username. */
#define USERNAME_UNIQUE "auth_user_username_key"

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

static void record(struct db_pg *p, enum db_result res, const char *state,
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
	record(p, out, state, msg && msg[0] ? msg : "no message from libpq");
	PQclear(res);
	return out;
}

/* DB_OK when res has the status wanted; otherwise pg_fail. */
static enum db_result pg_check(struct db_pg *p, PGresult *res, ExecStatusType want)
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
		record(p, DB_ERR, "XX000", "expected one value");
		return DB_ERR;
	}
	snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return DB_OK;
}

static PGresult *run_prepared(struct db_pg *p, enum pg_stmt st, const char *const *params)
{
	/* Outside a transaction (the matrix's autocommit): a request of its own. */
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		pg_deadline_start_request(p);
	return pg_run_prepared(p, pg_stmts[st].name, pg_stmts[st].nparams, params);
}

/*
 * Runs sql; when the connection turns out to be lost before anything of a
 * transaction was sent (the server restarted while this worker was idle),
 * connects again and runs it once more, so that the restart costs no
 * request.  Only for statements that change nothing: BEGIN, SELECT 1.
 */
static enum db_result exec_reconnecting(struct db_pg *p, const char *sql,
					ExecStatusType want)
{
	char err[ERR_LEN];
	enum db_result res;

	pg_deadline_start_request(p);
	res = pg_check(p, pg_run_sql(p, sql), want);
	if (res == DB_OK || !p->broken)
		return res;
	/* Within the deadline only: else 503, and the next request connects. */
	if (pg_deadline_left_ms(p) < p->connect_budget_ms)
		return res;
	log_info("database connection lost (%s): connecting again", p->base.last_msg);
	pg_disconnect(p);
	p->broken = false;
	p->deadline_passed = false;
	if (pg_connect(p, err, sizeof(err)) != DB_OK) {
		p->broken = true;
		record(p, DB_ERR, "08006", err);
		return DB_ERR;
	}
	db_clear_error(&p->base);
	return pg_check(p, pg_run_sql(p, sql), want);
}

/* READ COMMITTED whatever how says: no PostgreSQL transaction upgrades a lock. */
static enum db_result pg_begin_as(struct db *db, enum db_begin how)
{
	(void)how;
	return exec_reconnecting(pg(db), "BEGIN", PGRES_COMMAND_OK);
}

/*
 * A COMMIT whose answer did not come (the connection lost, the deadline
 * passed) or came with a WARNING: the server may have committed, and with
 * a cancelled wait for the synchronous standby it has, on itself only (a
 * failover now would lose it).  Reported as DB_UNKNOWN, never as success.
 */
static enum db_result commit_unconfirmed(struct db_pg *p, PGresult *res)
{
	char why[ERR_LEN];

	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		snprintf(why, sizeof(why), "COMMIT answered with a warning, the commit may be"
			 " on this server only: %s", p->warning);
	} else {
		pg_fail(p, res);
		snprintf(why, sizeof(why), "COMMIT not confirmed: %.*s",
			 (int)sizeof(why) - 32, p->base.last_msg);
	}
	record(p, DB_UNKNOWN, "08006", why);
	return DB_UNKNOWN;
}

static enum db_result pg_commit(struct db *db)
{
	struct db_pg *p = pg(db);
	PGresult *res;

	p->warned = false;
	res = pg_run_sql(p, "COMMIT");
	/* COMMIT of a transaction that failed answers ROLLBACK, not an error. */
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		PQclear(res);
		record(p, DB_ERR, "25P02", "the transaction had failed: COMMIT rolled it back");
		return DB_ERR;
	}
	if (res == NULL || PQstatus(p->conn) == CONNECTION_BAD ||
	    (PQresultStatus(res) == PGRES_COMMAND_OK && p->warned))
		return commit_unconfirmed(p, res);
	return pg_check(p, res, PGRES_COMMAND_OK);
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

static void pg_rollback(struct db *db)
{
	pg_rollback_tx(pg(db));
}

/* Runs the prepared query st, which takes no parameter; *nread gets its number of rows. */
static enum db_result read_all(struct db_pg *p, enum pg_stmt st, int *nread)
{
	PGresult *res = run_prepared(p, st, NULL);

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	*nread = PQntuples(res);
	PQclear(res);
	return DB_OK;
}

static enum db_result pg_users_read_recent(struct db *db, int *nread)
{
	return read_all(pg(db), PG_RECENT, nread);
}

static enum db_result pg_user_insert(struct db *db, const char *username,
				     const char *email, const char *password_hash)
{
	struct db_pg *p = pg(db);
	const char *params[3] = { password_hash, username, email };
	PGresult *res = run_prepared(p, PG_INSERT, params);

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		return pg_fail(p, res);
	/* ON CONFLICT DO NOTHING inserted no row: the name is taken. */
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		record(p, DB_CONSTRAINT, "23505", "duplicate key value violates unique"
		       " constraint \"" USERNAME_UNIQUE "\"");
		return DB_CONSTRAINT;
	}
	PQclear(res);
	return DB_OK;
}

static enum db_result pg_user_count(struct db *db, long long *count)
{
	struct db_pg *p = pg(db);
	PGresult *res = run_prepared(p, PG_COUNT, NULL);
	char *end;
	long long n;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	if (PQntuples(res) != 1) {
		PQclear(res);
		record(p, DB_INTEGRITY, "XX000", "the kept user count (sqlitefcgi_user_count)"
		       " is missing: run 'sqlite-fcgi migrate' to recount");
		return DB_INTEGRITY;
	}
	n = strtoll(PQgetvalue(res, 0, 0), &end, 10);
	if (*end != '\0' || end == PQgetvalue(res, 0, 0)) {
		PQclear(res);
		record(p, DB_ERR, "XX000", "sqlitefcgi_user_count.n is not a number");
		return DB_ERR;
	}
	PQclear(res);
	*count = n;
	return DB_OK;
}

static enum db_result read_page(struct db_pg *p, long long before_id, int limit,
				struct db_user_row *rows, int *nrows)
{
	char before[24], lim[16];
	const char *params[2] = { before, lim };
	PGresult *res;
	int n;

	/* The first page starts at the largest id a row can have. */
	snprintf(before, sizeof(before), "%lld", before_id == 0 ? LLONG_MAX : before_id - 1);
	snprintf(lim, sizeof(lim), "%d", limit);
	res = run_prepared(p, PG_PAGE, params);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	n = PQntuples(res) < limit ? PQntuples(res) : limit;
	for (int i = 0; i < n; i++) {
		rows[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		snprintf(rows[i].username, sizeof(rows[i].username), "%s", PQgetvalue(res, i, 1));
		snprintf(rows[i].date_joined, sizeof(rows[i].date_joined), "%s",
			 PQgetvalue(res, i, 2));
	}
	PQclear(res);
	*nrows = n;
	return DB_OK;
}

/* READ ONLY: a snapshot for the page and the count; no row lock taken. */
static enum db_result pg_users_page(struct db *db, long long before_id, int limit,
				    struct db_user_row *rows, int *nrows, long long *count)
{
	struct db_pg *p = pg(db);
	enum db_result res = exec_reconnecting(p, "BEGIN ISOLATION LEVEL REPEATABLE READ"
					       " READ ONLY", PGRES_COMMAND_OK);

	if (res != DB_OK)
		return res;
	*nrows = 0;
	if ((limit > 0 && (res = read_page(p, before_id, limit, rows, nrows)) != DB_OK) ||
	    (res = pg_user_count(db, count)) != DB_OK ||
	    (res = pg_commit(db)) != DB_OK) {
		pg_rollback(db);
		return res;
	}
	return DB_OK;
}

/* The matrix's operations (rows.c). */

static enum db_result pg_rows_read(struct db *db, int *nread)
{
	return read_all(pg(db), PG_ROWS_READ, nread);
}

static enum db_result pg_row_insert(struct db *db, const struct db_row *row,
				    long long *id)
{
	struct db_pg *p = pg(db);
	/* %.17g: every double, read back by PostgreSQL as the same double. */
	char inside[32], side[32];
	const char *params[9] = { row->name, row->campaign, row->voice, row->recognize,
				  row->growth, row->yard, row->discussion, inside, side };
	PGresult *res;

	snprintf(inside, sizeof(inside), "%.17g", row->inside);
	snprintf(side, sizeof(side), "%.17g", row->side);
	res = run_prepared(p, PG_ROW_INSERT, params);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	if (PQntuples(res) != 1) {
		PQclear(res);
		record(p, DB_ERR, "XX000", "INSERT ... RETURNING id returned no row");
		return DB_ERR;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return DB_OK;
}

static enum db_result pg_ping(struct db *db)
{
	return exec_reconnecting(pg(db), "SELECT 1", PGRES_TUPLES_OK) == DB_OK ? DB_OK : DB_ERR;
}

static enum db_reopen pg_needs_reopen(const struct db *db)
{
	return ((const struct db_pg *)db)->broken ? DB_REOPEN_CLOSE_FIRST : DB_REOPEN_NO;
}

static enum db_result pg_open(const struct config *cfg, enum db_open_mode mode,
			      struct db **out, char *err, size_t errlen)
{
	struct db_pg *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return DB_ERR;
	}
	p->base.ops = &db_pg_ops;
	p->cfg = cfg;
	p->mode = mode;
	p->connect_budget_ms = pg_connect_budget_ms(cfg);
	/* The open counts against the request it is made for (ensure_db). */
	pg_deadline_start(p);
	p->untouched = true;
	if (pg_connect(p, err, errlen) != DB_OK) {
		pg_disconnect(p);
		free(p);
		return DB_ERR;
	}
	*out = &p->base;
	return DB_OK;
}

static void pg_close(struct db *db)
{
	pg_disconnect(pg(db));
	free(db);
}

const struct db_ops db_pg_ops = {
	.name = "postgresql",
	.check_config = pg_check_config,
	.open = pg_open,
	.close = pg_close,
	.migrate = pg_migrate,
	.print_plan = pg_print_plan,
	.describe = pg_describe,
	.begin_as = pg_begin_as,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.users_read_recent = pg_users_read_recent,
	.user_insert = pg_user_insert,
	.user_count = pg_user_count,
	.users_page = pg_users_page,
	.rows_read = pg_rows_read,
	.row_insert = pg_row_insert,
	.ping = pg_ping,
	.needs_reopen = pg_needs_reopen,
};
