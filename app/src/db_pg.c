#include "db_pg_conn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pg_mask.h"
#include "log.h"

/*
 * The PostgreSQL engine: the table of operations db.c calls (db_pg_ops, at
 * the end) and the operations of the request path.  Below it:
 * db_pg_schema.c (migrate), db_pg_open.c (connecting, settings),
 * db_pg_exec.c (running SQL, errors), db_pg_stmt.c (the statements),
 * db_pg_mask.c (DATABASE_URL without its secrets).
 */

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
		pg_record(p, DB_ERR, "08006", err);
		return DB_ERR;
	}
	db_clear_error(&p->base);
	return pg_check(p, pg_run_sql(p, sql), want);
}

/* READ COMMITTED whatever how says: no PostgreSQL transaction upgrades a lock. */
static enum db_result pg_begin_as(struct db *db, enum db_begin how)
{
	pg(db)->reads_only = how == DB_BEGIN_READ;
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
	pg_record(p, DB_UNKNOWN, "08006", why);
	return DB_UNKNOWN;
}

/*
 * An ERROR answering COMMIT rolled the transaction back (a serialization
 * failure, a deferred constraint); anything else short of a plain success
 * leaves its outcome unknown: no answer, a lost connection, a FATAL (the
 * server ending the session, maybe after committing), or a WARNING.  Not
 * for a transaction that only read: nothing of it was to be written, and
 * its failure is an ordinary one, worth a retry.
 */
static bool commit_outcome_unknown(const struct db_pg *p, const PGresult *res)
{
	const char *severity;

	if (p->reads_only)
		return false;
	if (res == NULL || PQstatus(p->conn) == CONNECTION_BAD)
		return true;
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		return p->warned;
	severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	return severity == NULL || strcmp(severity, "ERROR") != 0;
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
		pg_record(p, DB_ERR, "25P02", "the transaction had failed: COMMIT rolled it back");
		return DB_ERR;
	}
	if (commit_outcome_unknown(p, res))
		return commit_unconfirmed(p, res);
	return pg_check(p, res, PGRES_COMMAND_OK);
}


static void pg_rollback(struct db *db)
{
	pg_rollback_tx(pg(db));
}

/* One request of a shared transaction (commit.c), as db.h says. */
static enum db_result pg_savepoint(struct db *db, enum db_savepoint step)
{
	switch (step) {
	case DB_SAVEPOINT_BEGIN:
		return pg_exec(pg(db), "SAVEPOINT request");
	case DB_SAVEPOINT_ROLLBACK:
		return pg_exec(pg(db), "ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request");
	case DB_SAVEPOINT_RELEASE:
		break;
	}
	return pg_exec(pg(db), "RELEASE SAVEPOINT request");
}

/* Runs the prepared query st, which takes no parameter; *nread gets its number of rows. */
static enum db_result read_all(struct db_pg *p, enum pg_stmt st, int *nread)
{
	PGresult *res = pg_run_prepared(p, st, NULL);

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
	PGresult *res = pg_run_prepared(p, PG_INSERT, params);

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		return pg_fail(p, res);
	/* ON CONFLICT DO NOTHING inserted no row: the name is taken. */
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		PQclear(res);
		pg_record(p, DB_CONSTRAINT, "23505", "duplicate key value violates unique"
		       " constraint \"" USERNAME_UNIQUE "\"");
		return DB_CONSTRAINT;
	}
	PQclear(res);
	return DB_OK;
}

static enum db_result pg_user_count(struct db *db, long long *count)
{
	struct db_pg *p = pg(db);
	PGresult *res = pg_run_prepared(p, PG_COUNT, NULL);
	char *end;
	long long n;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	if (PQntuples(res) != 1) {
		PQclear(res);
		pg_record(p, DB_INTEGRITY, "XX000", "the kept user count (sqlitefcgi_user_count)"
		       " is missing: run 'sqlite-fcgi migrate' to recount");
		return DB_INTEGRITY;
	}
	n = strtoll(PQgetvalue(res, 0, 0), &end, 10);
	if (*end != '\0' || end == PQgetvalue(res, 0, 0)) {
		PQclear(res);
		pg_record(p, DB_ERR, "XX000", "sqlitefcgi_user_count.n is not a number");
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
	res = pg_run_prepared(p, PG_PAGE, params);
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
	p->reads_only = true;
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
	res = pg_run_prepared(p, PG_ROW_INSERT, params);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_fail(p, res);
	if (PQntuples(res) != 1) {
		PQclear(res);
		pg_record(p, DB_ERR, "XX000", "INSERT ... RETURNING id returned no row");
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

static void pg_deadline_from_op(struct db *db, uint64_t start_ns)
{
	pg_deadline_from(pg(db), start_ns);
}

static enum db_reopen pg_needs_reopen(const struct db *db)
{
	return ((const struct db_pg *)db)->broken ? DB_REOPEN_CLOSE_FIRST : DB_REOPEN_NO;
}

/* db_errname()s of waits that a retry later may get past: counted by /metrics. */
static const char *const busy_names[] = {
	"PG_55P03_lock_not_available", "PG_57014_query_canceled",
	"PG_40001_serialization_failure", "PG_40P01_deadlock_detected", NULL
};

const struct db_ops db_pg_ops = {
	.name = "postgresql",
	.conn_size = sizeof(struct db_pg),
	.check_config = pg_check_config,
	.print_plan = pg_print_plan,
	.mask_url = pg_mask_url,
	.busy_names = busy_names,
	.no_backup = "DATABASE_URL names a PostgreSQL database, and this command"
		     " copies the SQLite file at DB_PATH only; for PostgreSQL use pg_dump"
		     " (pg_restore puts a dump back): docs/postgresql.md, \"Backups\"",
	.open = pg_open,
	.close = pg_close,
	.migrate = pg_migrate,
	.describe = pg_describe,
	.ping = pg_ping,
	.needs_reopen = pg_needs_reopen,
	.deadline_from = pg_deadline_from_op,
	.begin_as = pg_begin_as,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.savepoint = pg_savepoint,
	.users_read_recent = pg_users_read_recent,
	.user_insert = pg_user_insert,
	.user_count = pg_user_count,
	.users_page = pg_users_page,
	.rows_read = pg_rows_read,
	.row_insert = pg_row_insert,
};
