#include "db_sqlite_conn.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "monotonic.h"
#include "writelock.h"

/*
 * The SQLite engine: its statements, transactions and queries, and
 * the table of operations db.c calls (db_sqlite_ops, at the end).
 */

static const char *const stmt_sql[DB_NSTMT] = {
	[ST_BEGIN] = NULL,	/* depends on SQLITE_TXN: see sq_begin_sql() */
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* The seed view reads whole rows: User.objects.all()[:DB_RECENT_USERS]. */
	[ST_RECENT] = "SELECT id, password, last_login, is_superuser, username,"
		      " last_name, email, is_staff, is_active, date_joined,"
		      " first_name FROM auth_user LIMIT " DB_STR(DB_RECENT_USERS),
	/* The values Django's create_user() stores. */
	[ST_INSERT] = "INSERT INTO auth_user (password, last_login, is_superuser,"
		      " username, last_name, email, is_staff, is_active,"
		      " date_joined, first_name) VALUES (?1, NULL, 0, ?2, '', ?3,"
		      " 0, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), '')",
	[ST_COUNT] = "SELECT n FROM sqlitefcgi_user_count WHERE id = 1",
	[ST_PING] = "SELECT 1",
	/* Reads: DEFERRED whatever SQLITE_TXN says, so no write lock is taken. */
	[ST_READ_BEGIN] = "BEGIN DEFERRED",
	/*
	 * The primary key's order, from id ?1 down: a SEARCH on the rowid,
	 * whatever the page (an "?1 = 0 OR" for the first page would make it
	 * a SCAN from the newest row, walking every row above the page).
	 */
	[ST_PAGE] = "SELECT id, username, date_joined FROM auth_user"
		    " WHERE id <= ?1 ORDER BY id DESC LIMIT ?2",
	/* The matrix: Row.objects.all()[:DB_ROWS_READ], whole rows. */
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_ROWS_READ] = "SELECT id, name, campaign, voice, recognize, inside, growth,"
			 " side, yard, discussion FROM basic_model_row"
			 " LIMIT " DB_STR(DB_ROWS_READ),
	/* The texts are ?1-?7, the floats ?8 and ?9: see bind_row(). */
	[ST_ROW_INSERT] = "INSERT INTO basic_model_row (name, campaign, voice,"
			  " recognize, inside, growth, side, yard, discussion)"
			  " VALUES (?1, ?2, ?3, ?4, ?8, ?5, ?9, ?6, ?7)",
	/* Group commit: one request of a shared transaction (commit.c). */
	[ST_SAVEPOINT] = "SAVEPOINT request",
	[ST_RELEASE] = "RELEASE request",
	[ST_ROLLBACK_TO] = "ROLLBACK TO request",
};

int sq_prepare_all(struct db_sqlite *s, const struct config *cfg, char *err,
		   size_t errlen)
{
	for (int i = 0; i < DB_NSTMT; i++) {
		const char *sql = i == ST_BEGIN ? sq_begin_sql(cfg->txn) : stmt_sql[i];
		/* PERSISTENT: these live as long as the worker. */
		int rc = sqlite3_prepare_v3(s->conn, sql, -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			sq_fail(s, rc);
			snprintf(err, errlen, "%s: preparing \"%s\": %s",
				 cfg->db_path, sql, s->base.last_msg);
			return -1;
		}
	}
	return 0;
}

enum db_result db_sqlite_read_pragmas(struct db *db, struct db_pragmas *out)
{
	struct db_sqlite *s = sq(db);
	struct db_pragmas p;
	enum db_result res;

	if ((res = sq_query_text(s, "PRAGMA journal_mode", p.journal_mode,
				 sizeof(p.journal_mode))) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA synchronous", &p.synchronous)) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA busy_timeout", &p.busy_timeout_ms)) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA user_version", &p.schema_version)) != DB_OK)
		return res;
	*out = p;
	return DB_OK;
}

static enum db_result sq_describe(struct db *db, char *out, size_t outlen)
{
	struct db_pragmas p;
	enum db_result res = db_sqlite_read_pragmas(db, &p);

	if (res == DB_OK)
		snprintf(out, outlen, "schema version %d, journal_mode %s",
			 p.schema_version, p.journal_mode);
	return res;
}


/* Lets the next writer in once no transaction is open any more. */
static void release_writelock_if_done(struct db_sqlite *s)
{
	if (s->wl != NULL && sqlite3_get_autocommit(s->conn))
		writelock_release(s->wl);
}

static enum db_result acquire_writelock(struct db_sqlite *s)
{
	switch (writelock_acquire(s->wl)) {
	case WRITELOCK_OK:
		return DB_OK;
	case WRITELOCK_TIMEOUT:
		return db_fail_with(&s->base, DB_BUSY, SQLITE_BUSY,
				    db_sqlite_code_name(SQLITE_BUSY),
				    "timed out waiting for the write lock file");
	case WRITELOCK_ERR:
		break;
	}
	return db_fail_with(&s->base, DB_ERR, SQLITE_IOERR,
			    db_sqlite_code_name(SQLITE_IOERR),
			    "write lock file: %s", strerror(errno));
}

/*
 * With the lock file, a writer waits first in flock and then, for a
 * writer that does not take the lock file (a sqlite3 shell, a backup), in
 * SQLite's busy handler: the handler gets only what is left of the busy
 * timeout, so that SQLITE_BUSY_TIMEOUT_MS bounds the whole wait.
 */
static enum db_result step_after_writelock(struct db_sqlite *s, sqlite3_stmt *st)
{
	uint64_t start = monotonic_ns();
	enum db_result res;
	long left;

	if ((res = acquire_writelock(s)) != DB_OK)
		return res;
	left = s->busy_timeout_ms - (long)((monotonic_ns() - start) / 1000000u);
	sq_set_busy_timeout(s->conn, left > 0 ? (int)left : 0);
	res = sq_step_done(s, st);
	sq_set_busy_timeout(s->conn, s->busy_timeout_ms);
	return res;
}

/*
 * Runs st, which takes SQLite's write lock (a BEGIN IMMEDIATE, or a write
 * in autocommit), after the lock file when there is one; the lock file is
 * let go again unless st left a transaction open.
 */
static enum db_result step_writing(struct db_sqlite *s, sqlite3_stmt *st)
{
	enum db_result res = sq_file_check(s);

	if (res != DB_OK)
		return res;
	if (s->wl != NULL)
		res = step_after_writelock(s, st);
	else
		res = sq_step_done(s, st);
	release_writelock_if_done(s);
	return res;
}

static enum db_result sq_begin_as(struct db *db, enum db_begin how)
{
	struct db_sqlite *s = sq(db);
	enum db_result res;

	switch (how) {
	case DB_BEGIN_READ:
		res = sq_file_check(s);
		return res != DB_OK ? res : sq_step_done(s, s->stmt[ST_READ_BEGIN]);
	case DB_BEGIN_IMMEDIATE:
		return step_writing(s, s->stmt[ST_BEGIN_IMMEDIATE]);
	case DB_BEGIN_CONFIGURED:
		break;
	}
	/* BEGIN DEFERRED takes no write lock, but no lock file is open then. */
	return step_writing(s, s->stmt[ST_BEGIN]);
}

static enum db_result sq_commit(struct db *db)
{
	struct db_sqlite *s = sq(db);
	enum db_result res = sq_step_done(s, s->stmt[ST_COMMIT]);

	release_writelock_if_done(s);
	/*
	 * A commit that went into a file replaced or moved since BEGIN is not
	 * kept at DB_PATH: it must not be acknowledged.
	 */
	if (res == DB_OK && (res = sq_file_check(s)) != DB_OK)
		log_warn("a commit went into a file that is no longer at DB_PATH:"
			 " not acknowledged: %s", s->base.last_msg);
	return res;
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
	release_writelock_if_done(s);
}

/*
 * ROLLBACK TO undoes the request's writes but leaves its savepoint on the
 * stack: RELEASE then ends it, the transaction still open.
 */
static enum db_result sq_savepoint(struct db *db, enum db_savepoint step)
{
	struct db_sqlite *s = sq(db);
	enum db_result res;

	switch (step) {
	case DB_SAVEPOINT_BEGIN:
		return sq_step_done(s, s->stmt[ST_SAVEPOINT]);
	case DB_SAVEPOINT_ROLLBACK:
		if ((res = sq_step_done(s, s->stmt[ST_ROLLBACK_TO])) != DB_OK)
			return res;
		break;
	case DB_SAVEPOINT_RELEASE:
		break;
	}
	return sq_step_done(s, s->stmt[ST_RELEASE]);
}

/* Steps st through every row it returns; *nread gets their number. */
static enum db_result read_all(struct db_sqlite *s, sqlite3_stmt *st, int *nread)
{
	int n = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n++;
	sq_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc);
	*nread = n;
	return DB_OK;
}

static enum db_result sq_users_read_recent(struct db *db, int *nread)
{
	return read_all(sq(db), sq(db)->stmt[ST_RECENT], nread);
}

static enum db_result sq_user_insert(struct db *db, const char *username,
				     const char *email, const char *password_hash)
{
	struct db_sqlite *s = sq(db);
	sqlite3_stmt *st = s->stmt[ST_INSERT];
	enum db_result res;
	int rc;

	/* SQLITE_STATIC: the strings outlive the statement's use here. */
	if ((rc = sqlite3_bind_text(st, 1, password_hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC)) != SQLITE_OK) {
		sq_clear_bindings(st);
		return sq_fail(s, rc);
	}
	res = sq_step_done(s, st);
	sq_clear_bindings(st);
	return res;
}

static enum db_result sq_user_count(struct db *db, long long *count)
{
	struct db_sqlite *s = sq(db);
	sqlite3_stmt *st = s->stmt[ST_COUNT];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	sq_reset(st);
	if (rc == SQLITE_DONE)
		return db_fail_with(db, DB_INTEGRITY, SQLITE_ERROR,
				    db_sqlite_code_name(SQLITE_ERROR),
				    "the kept user count (sqlitefcgi_user_count) is"
				    " missing: run 'sqlite-fcgi migrate' to recount");
	return rc == SQLITE_ROW ? DB_OK : sq_fail(s, rc);
}

static void copy_text(char *out, size_t outlen, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
}

static enum db_result read_page(struct db_sqlite *s, long long before_id,
				int limit, struct db_user_row *rows, int *nrows)
{
	sqlite3_stmt *st = s->stmt[ST_PAGE];
	/* The first page starts at the largest id a row can have. */
	sqlite3_int64 from = before_id == 0 ? LLONG_MAX : before_id - 1;
	int n = 0, rc;

	if ((rc = sqlite3_bind_int64(st, 1, from)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 2, limit)) != SQLITE_OK)
		return sq_fail(s, rc);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows[n].id = sqlite3_column_int64(st, 0);
		copy_text(rows[n].username, sizeof(rows[n].username), st, 1);
		copy_text(rows[n].date_joined, sizeof(rows[n].date_joined), st, 2);
		n++;
	}
	sq_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(s, rc);
	*nrows = n;
	return DB_OK;
}

/* Never the lock file: a reader must not queue behind writers. */
static enum db_result sq_users_page(struct db *db, long long before_id, int limit,
				    struct db_user_row *rows, int *nrows,
				    long long *count)
{
	struct db_sqlite *s = sq(db);
	enum db_result res = sq_file_check(s);

	if (res != DB_OK || (res = sq_step_done(s, s->stmt[ST_READ_BEGIN])) != DB_OK)
		return res;
	*nrows = 0;
	if ((limit > 0 && (res = read_page(s, before_id, limit, rows, nrows)) != DB_OK) ||
	    (res = sq_user_count(db, count)) != DB_OK ||
	    (res = sq_step_done(s, s->stmt[ST_COMMIT])) != DB_OK) {
		sq_rollback(db);
		return res;
	}
	return DB_OK;
}

/* The matrix's operations (rows.c). */

static enum db_result sq_rows_read(struct db *db, int *nread)
{
	struct db_sqlite *s = sq(db);
	/* On its own, the read begins here: check the file first, as BEGIN does. */
	enum db_result res = sqlite3_get_autocommit(s->conn) ? sq_file_check(s) : DB_OK;

	return res != DB_OK ? res : read_all(s, s->stmt[ST_ROWS_READ], nread);
}

static enum db_result bind_row(struct db_sqlite *s, sqlite3_stmt *st,
			       const struct db_row *row)
{
	const char *const texts[] = { row->name, row->campaign, row->voice,
				      row->recognize, row->growth, row->yard,
				      row->discussion };
	int rc = SQLITE_OK;

	/* SQLITE_STATIC: the strings outlive the statement's use here. */
	for (int i = 0; i < 7 && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && (rc = sqlite3_bind_double(st, 8, row->inside)) == SQLITE_OK)
		rc = sqlite3_bind_double(st, 9, row->side);
	if (rc != SQLITE_OK) {
		sq_clear_bindings(st);
		return sq_fail(s, rc);
	}
	return DB_OK;
}

static enum db_result sq_row_insert(struct db *db, const struct db_row *row,
				    long long *id)
{
	struct db_sqlite *s = sq(db);
	sqlite3_stmt *st = s->stmt[ST_ROW_INSERT];
	enum db_result res = bind_row(s, st, row);

	if (res != DB_OK)
		return res;
	/* On its own, the INSERT is a write transaction: it queues as BEGIN IMMEDIATE does. */
	if (sqlite3_get_autocommit(s->conn))
		res = step_writing(s, st);
	else
		res = sq_step_done(s, st);
	sq_clear_bindings(st);
	if (res == DB_OK)
		*id = sqlite3_last_insert_rowid(s->conn);
	return res;
}

static enum db_result sq_ping(struct db *db)
{
	struct db_sqlite *s = sq(db);
	enum db_result res = sq_file_check(s);

	return res != DB_OK ? res : sq_step_done(s, s->stmt[ST_PING]);
}

/*
 * After an I/O error the new connection is opened before the old one is
 * closed.  A commit whose WAL sync failed has its frames, commit mark
 * included, in the WAL file past the end the WAL index records; the next
 * commit overwrites them.  But if the last connection to the file closes
 * first, its checkpoint fails on the same disk, the WAL stays, and the
 * next connection rebuilds the index from the WAL: the failed commit comes
 * back as committed, a user whose client got a 503.  Every worker meets
 * the fault within a few requests, so closing first would close the last.
 *
 * After the other failures the old connection is closed first: a new
 * connection in the same process shares the old one's WAL index mapping
 * (the unix VFS keeps one per file and process), and one mapped read-only
 * (a read-only directory) would keep the new connection read-only.  For
 * that reason a connection that found the database read-only asks for
 * every connection of the process to close (a worker's threads each have
 * one, and group commit a writer): while one stays open, the mapping
 * stays, read-only, after the directory is writable again.
 */
static enum db_reopen sq_needs_reopen(const struct db *db)
{
	if (((const struct db_sqlite *)db)->txn_stuck)
		return DB_REOPEN_CLOSE_FIRST;
	switch (db->last_code & 0xff) {
	case SQLITE_IOERR:
		return DB_REOPEN_OPEN_FIRST;
	case SQLITE_READONLY:
		/* A file moved away is the refusal's (db_sqlite_file.c), per connection. */
		if (db->last_code != SQLITE_READONLY_DBMOVED)
			return DB_REOPEN_CLOSE_ALL;
		return DB_REOPEN_CLOSE_FIRST;
	case SQLITE_CORRUPT:
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
		return DB_REOPEN_CLOSE_FIRST;
	default:
		return DB_REOPEN_NO;
	}
}

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.migrate = sq_migrate,
	.print_plan = sq_print_plan,
	.describe = sq_describe,
	.begin_as = sq_begin_as,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.users_read_recent = sq_users_read_recent,
	.user_insert = sq_user_insert,
	.user_count = sq_user_count,
	.users_page = sq_users_page,
	.rows_read = sq_rows_read,
	.row_insert = sq_row_insert,
	.ping = sq_ping,
	.needs_reopen = sq_needs_reopen,
	.refusal = sq_refusal,
};
