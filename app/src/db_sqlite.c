#include "db_sqlite_conn.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db_sqlite_backup.h"
#include "log.h"
#include "monotonic.h"
#include "writelock.h"

/*
 * The SQLite engine: the table of operations db.c calls (db_sqlite_ops, at
 * the end), and the transactions and queries of the request path, with
 * the lock file's queue.  The files below it: db_sqlite_conn.h.
 */

static enum db_result sq_describe(struct db *db, char *out, size_t outlen)
{
	struct db_pragmas p;
	enum db_result res = db_sqlite_read_pragmas(db, &p);

	if (res == DB_OK)
		snprintf(out, outlen, "schema version %d, journal_mode %s",
			 p.schema_version, p.journal_mode);
	return res;
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
	sq_release_writelock_if_done(s);
	return res;
}

static enum db_result sq_begin_as(struct db *db, enum db_begin how)
{
	struct db_sqlite *s = sq(db);
	enum db_result res;

	switch (how) {
	case DB_BEGIN_READ:
		res = sq_file_check(s);
		return res != DB_OK ? res : sq_step_done(s, s->stmt[ST_BEGIN_DEFERRED]);
	case DB_BEGIN_IMMEDIATE:
		return step_writing(s, s->stmt[ST_BEGIN_IMMEDIATE]);
	case DB_BEGIN_CONFIGURED:
		break;
	}
	/* BEGIN DEFERRED takes no write lock, but no lock file is open then. */
	return step_writing(s, s->stmt[s->begin]);
}

static enum db_result sq_commit(struct db *db)
{
	struct db_sqlite *s = sq(db);
	enum db_result res = sq_step_done(s, s->stmt[ST_COMMIT]);

	sq_release_writelock_if_done(s);
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

	if (res != DB_OK || (res = sq_step_done(s, s->stmt[ST_BEGIN_DEFERRED])) != DB_OK)
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

/*
 * SQLite opens a file it may not write read-only rather than failing, and
 * such a connection keeps the process's WAL index mapped read-only and
 * has no lock file (db_sqlite_open.c) even after the fault is gone.
 */
static bool sq_opened_read_only(const struct db *db)
{
	return sqlite3_db_readonly(((const struct db_sqlite *)db)->conn, "main") == 1;
}

/* The WAL file's size (0 after a TRUNCATE checkpoint); -1 when there is none. */
static long long sq_wal_bytes(const struct config *cfg)
{
	char path[CONFIG_PATH_MAX + sizeof(CONFIG_WAL_SUFFIX)];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", cfg->db_path, CONFIG_WAL_SUFFIX);
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* db_errname()s of waits for SQLite's locks: counted by /metrics. */
static const char *const busy_names[] = {
	"SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY",
	"SQLITE_BUSY_TIMEOUT", "SQLITE_LOCKED", NULL
};

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.conn_size = sizeof(struct db_sqlite),
	.global_init = sq_global_init,
	.refusal = sq_refusal,
	.print_plan = sq_print_plan,
	.wal_bytes = sq_wal_bytes,
	.busy_names = busy_names,
	.backup_to = sq_backup_to,
	.restore_from = sq_restore_from,
	.open = sq_open,
	.close = sq_close,
	.migrate = sq_migrate,
	.describe = sq_describe,
	.ping = sq_ping,
	.needs_reopen = sq_needs_reopen,
	.opened_read_only = sq_opened_read_only,
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
};
