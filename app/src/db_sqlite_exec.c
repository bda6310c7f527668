#include "db_sqlite_conn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writelock.h"

/*
 * Running SQL on a SQLite connection, and what a failure is: the result
 * code's name, SQLite's message, and the db_result it maps to; and the
 * end of a transaction that failed (rollback, the lock file let go).
 */

/* The names of the result codes a worker can meet, for its log lines. */
static const struct { int code; const char *name; } code_names[] = {
	{ SQLITE_OK, "SQLITE_OK" },
	{ SQLITE_ERROR, "SQLITE_ERROR" },
	{ SQLITE_INTERNAL, "SQLITE_INTERNAL" },
	{ SQLITE_PERM, "SQLITE_PERM" },
	{ SQLITE_ABORT, "SQLITE_ABORT" },
	{ SQLITE_BUSY, "SQLITE_BUSY" },
	{ SQLITE_BUSY_RECOVERY, "SQLITE_BUSY_RECOVERY" },
	{ SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT" },
	{ SQLITE_BUSY_TIMEOUT, "SQLITE_BUSY_TIMEOUT" },
	{ SQLITE_LOCKED, "SQLITE_LOCKED" },
	{ SQLITE_NOMEM, "SQLITE_NOMEM" },
	{ SQLITE_READONLY, "SQLITE_READONLY" },
	{ SQLITE_READONLY_DBMOVED, "SQLITE_READONLY_DBMOVED" },
	{ SQLITE_IOERR, "SQLITE_IOERR" },
	{ SQLITE_IOERR_READ, "SQLITE_IOERR_READ" },
	{ SQLITE_IOERR_SHORT_READ, "SQLITE_IOERR_SHORT_READ" },
	{ SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE" },
	{ SQLITE_IOERR_FSYNC, "SQLITE_IOERR_FSYNC" },
	{ SQLITE_IOERR_TRUNCATE, "SQLITE_IOERR_TRUNCATE" },
	{ SQLITE_CORRUPT, "SQLITE_CORRUPT" },
	{ SQLITE_FULL, "SQLITE_FULL" },
	{ SQLITE_CANTOPEN, "SQLITE_CANTOPEN" },
	{ SQLITE_PROTOCOL, "SQLITE_PROTOCOL" },
	{ SQLITE_SCHEMA, "SQLITE_SCHEMA" },
	{ SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT" },
	{ SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE" },
	{ SQLITE_CONSTRAINT_CHECK, "SQLITE_CONSTRAINT_CHECK" },
	{ SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL" },
	{ SQLITE_CONSTRAINT_TRIGGER, "SQLITE_CONSTRAINT_TRIGGER" },
	{ SQLITE_MISUSE, "SQLITE_MISUSE" },
	{ SQLITE_NOTADB, "SQLITE_NOTADB" },
};

const char *db_sqlite_code_name(int code)
{
	int primary = code & 0xff;
	const char *fallback = "SQLITE_UNKNOWN";

	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
		if (code_names[i].code == code)
			return code_names[i].name;
		if (code_names[i].code == primary)
			fallback = code_names[i].name;	/* an extended code not listed */
	}
	return fallback;
}

/* Only this is "username taken": any other constraint is a fault. */
static bool username_taken(struct db_sqlite *s, int rc)
{
	return rc == SQLITE_CONSTRAINT_UNIQUE &&
	       strcmp(sqlite3_errmsg(s->conn),
		      "UNIQUE constraint failed: auth_user.username") == 0;
}

enum db_result sq_fail(struct db_sqlite *s, int rc)
{
	enum db_result res;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		res = DB_BUSY;
		break;
	case SQLITE_CONSTRAINT:
		res = username_taken(s, rc) ? DB_CONSTRAINT : DB_INTEGRITY;
		break;
	default:
		res = DB_ERR;
	}
	return db_fail_with(&s->base, res, rc, db_sqlite_code_name(rc), "%s",
			    sqlite3_errmsg(s->conn));
}

enum db_result sq_step_done(struct db_sqlite *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	enum db_result res = DB_OK;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		res = sq_fail(s, rc);
	sq_reset(st);
	return res;
}

enum db_result sq_exec(struct db_sqlite *s, const char *sql)
{
	int rc = sqlite3_exec(s->conn, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? DB_OK : sq_fail(s, rc);
}

void sq_set_busy_timeout(sqlite3 *conn, int ms)
{
	int rc = sqlite3_busy_timeout(conn, ms);

	if (rc != SQLITE_OK)
		log_warn("%s: %d ms: %s", __func__, ms, sqlite3_errstr(rc));
}

void sq_close_conn(sqlite3 *conn)
{
	/* sqlite3_close(NULL) is a no-op; a failed close leaves conn open. */
	if (sqlite3_close(conn) != SQLITE_OK)
		log_warn("%s: the connection stays open: %s", __func__,
			 sqlite3_errmsg(conn));
}

enum db_result sq_query_text(struct db_sqlite *s, const char *sql, char *out,
			     size_t outlen)
{
	sqlite3_stmt *st = NULL;
	enum db_result res = DB_OK;
	int rc = sqlite3_prepare_v2(s->conn, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(s, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	} else {
		res = sq_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
	}
	sq_finalize(st);
	return res;
}

enum db_result sq_query_int(struct db_sqlite *s, const char *sql, int *out)
{
	char text[32];
	enum db_result res = sq_query_text(s, sql, text, sizeof(text));

	if (res == DB_OK)
		*out = atoi(text);
	return res;
}

/* Lets the next writer in once no transaction is open any more. */
void sq_release_writelock_if_done(struct db_sqlite *s)
{
	if (s->wl != NULL && sqlite3_get_autocommit(s->conn))
		writelock_release(s->wl);
}

/*
 * The caller is reporting the error that made it roll back: a failed
 * ROLLBACK is logged, not recorded, so that db_errmsg and db_needs_reopen
 * still answer for that error.
 */
void sq_rollback(struct db *db)
{
	struct db_sqlite *s = sq(db);
	int rc;

	/* A failed statement may already have rolled the transaction back. */
	if (sqlite3_get_autocommit(s->conn))
		goto out;
	if (s->stmt[ST_ROLLBACK] != NULL) {
		rc = sqlite3_step(s->stmt[ST_ROLLBACK]);
		sq_reset(s->stmt[ST_ROLLBACK]);
		if (rc == SQLITE_DONE)
			goto out;
	}
	rc = sqlite3_exec(s->conn, "ROLLBACK", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		goto out;
	/*
	 * Still open, the transaction would keep SQLite's write lock and the
	 * lock file for good: every later BEGIN of this worker would fail.
	 * Closing the connection rolls it back and lets both go.
	 */
	s->txn_stuck = !sqlite3_get_autocommit(s->conn);
	log_warn("rollback failed: %s (%s)%s", sqlite3_errmsg(s->conn),
		 db_sqlite_code_name(rc), s->txn_stuck
		 ? ": the transaction is still open; the connection will be replaced" : "");
out:
	sq_release_writelock_if_done(s);
}
