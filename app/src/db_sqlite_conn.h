#ifndef SQLITE_FCGI_DB_SQLITE_CONN_H
#define SQLITE_FCGI_DB_SQLITE_CONN_H

#include <sqlite3.h>
#include <time.h>

#include "db_engine.h"
#include "db_sqlite_rc.h"

/*
 * The inside of the SQLite engine, shared by its files only.  Each calls
 * only the ones below it:
 *   db_sqlite.c          the ops table; transactions and queries, the lock file's queue
 *   db_sqlite_schema.c   migrate
 *   db_sqlite_open.c     opening, settings applied and read back, checkpoints
 *   db_sqlite_stmt.c     the statements, prepared once
 *   db_sqlite_file.c     the file served: replaced, moved, deleted (db.h: db_refusal)
 *   db_sqlite_marker.c   what a replacement leaves on disk: DB_PATH-replaced, -wal, -shm
 *   db_sqlite_exec.c     running SQL, errors mapped to db_result, rollback
 *   db_sqlite_backup.c   sqlite-fcgi backup and restore (connections of their own)
 *   db_sqlite_alloc.c    the wiping allocator (global_init)
 */

/* For the engine's files and its unit tests (tests/unit/dbtest.h). */
/* The settings SQLite reports for this connection. */
struct db_pragmas {
	char journal_mode[16];
	int synchronous;	/* 0 off, 1 normal, 2 full, 3 extra */
	int busy_timeout_ms;
	int schema_version;
};
enum db_result db_sqlite_read_pragmas(struct db *db, struct db_pragmas *out);

/* The name of a SQLite result code ("SQLITE_BUSY_SNAPSHOT"); the primary
 * code's name for an extended code not listed. */
const char *db_sqlite_code_name(int code);

enum db_stmt {
	ST_BEGIN_DEFERRED, ST_BEGIN_IMMEDIATE, ST_COMMIT, ST_ROLLBACK,
	ST_RECENT, ST_INSERT, ST_COUNT, ST_PING, ST_PAGE,
	ST_ROWS_READ, ST_ROW_INSERT,				/* the matrix */
	ST_SAVEPOINT, ST_RELEASE, ST_ROLLBACK_TO,	/* group commit */
	DB_NSTMT
};

struct writelock;

struct db_sqlite {
	struct db base;		/* first: see db_engine.h */
	sqlite3 *conn;
	int busy_timeout_ms;
	time_t last_truncate;	/* when this connection last tried a TRUNCATE */
	struct writelock *wl;	/* NULL unless WRITE_LOCK_WAIT=flock */
	bool txn_stuck;		/* a ROLLBACK failed with the transaction open */
	enum db_stmt begin;	/* SQLITE_TXN's: ST_BEGIN_DEFERRED or ST_BEGIN_IMMEDIATE */
	sqlite3_stmt *stmt[DB_NSTMT];
	char db_path[CONFIG_PATH_MAX];	/* as configured: the file served */
};

static inline struct db_sqlite *sq(struct db *db)
{
	return (struct db_sqlite *)db;
}

/* Remembers rc and SQLite's message, and maps rc to a db_result. */
enum db_result sq_fail(struct db_sqlite *s, int rc);
/* Runs a prepared statement that returns no rows we need, then resets it. */
enum db_result sq_step_done(struct db_sqlite *s, sqlite3_stmt *st);
enum db_result sq_exec(struct db_sqlite *s, const char *sql);
/*
 * sqlite3_busy_timeout and sqlite3_close, checked: a failure (a handle
 * not open; a connection with statements left, so not closed) is logged.
 */
void sq_set_busy_timeout(sqlite3 *conn, int ms);
void sq_close_conn(sqlite3 *conn);
/* Runs a one-row, one-column query and copies its text (or integer) result. */
enum db_result sq_query_text(struct db_sqlite *s, const char *sql, char *out,
			     size_t outlen);
enum db_result sq_query_int(struct db_sqlite *s, const char *sql, int *out);

/* Prepares every statement of the service once (DB_OPEN_SERVE). */
int sq_prepare_all(struct db_sqlite *s, const struct config *cfg, char *err,
		   size_t errlen);
/* SQLITE_TXN's BEGIN, as sqlite-fcgi config prints it. */
const char *sq_begin_sql(enum config_txn txn);

/* The engine's operations of the same names (db_engine.h). */
enum db_result sq_open(struct db *db, const struct config *cfg,
		       enum db_open_mode mode, char *err, size_t errlen);
void sq_close(struct db *db);
void sq_print_plan(const struct config *cfg, FILE *out);
enum db_result sq_migrate(struct db *db, char *err, size_t errlen);
void sq_rollback(struct db *db);
int sq_global_init(void);
/* Lets the next writer in once no transaction is open any more. */
void sq_release_writelock_if_done(struct db_sqlite *s);

/*
 * The file a worker serves (db_sqlite_file.c).  sq_file_check: DB_ERR
 * (SQLITE_READONLY_DBMOVED) when the file at DB_PATH is not the one this
 * process serves any more (replaced, moved, deleted).  sq_refusal: the
 * engine's db_refusal.  sq_file_before_open: -1 when the file must not be
 * opened (serve: it replaced the served one; migrate: the replaced file's
 * WAL is still there).  sq_file_adopt: after the open, records the file
 * as the one served; -1 when it is not the one served before.
 * sq_file_before_close: before a connection closes, the replaced file's
 * WAL checkpointed into that file (SQLite's close does not: the file moved).
 */
enum db_result sq_file_check(struct db_sqlite *s);
int sq_refusal(const struct config *cfg, char *msg, size_t msglen);
int sq_file_before_open(const struct config *cfg, enum db_open_mode mode,
			char *err, size_t errlen);
int sq_file_adopt(struct db_sqlite *s, const struct config *cfg, char *err,
		  size_t errlen);
void sq_file_before_close(struct db_sqlite *s);

#endif
