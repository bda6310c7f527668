#ifndef SQLITE_FCGI_DB_H
#define SQLITE_FCGI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "db_types.h"
#include "err.h"

/*
 * The data layer's interface.  The request path (users.c, routes.c,
 * server.c, main.c) sees only this; each engine lives in files of its own
 * behind struct db_ops (db_engine.h): db_sqlite*.c hold every sqlite3_*
 * call, db_pg*.c every libpq call.  db_open picks the engine from the
 * configuration (DATABASE_URL).  One struct db
 * is one connection, used by one process.  Its types, and its last
 * failure, are db_types.h's (the engines see them too).
 */

/*
 * Sets the engines up for this program (SQLite: every block it frees is
 * wiped first, so that copies of a password do not stay behind in freed
 * memory).  Call once, before any other db_* function; returns 0, or -1
 * when SQLite was already initialised or was built without thread support.
 */
int db_global_init(void);

/*
 * Checks the settings of cfg's engine that only its library can parse
 * (PostgreSQL: DATABASE_URL through libpq), without connecting.  Returns
 * 0, or -1 with a message naming the setting in err; the message never
 * holds a password.
 */
int db_check_config(const struct config *cfg, char *err, size_t errlen);

/* The name of cfg's engine: "sqlite", "postgresql". */
const char *db_engine_name(const struct config *cfg);

/*
 * Opens a connection to the database cfg names, applies and checks the
 * engine's settings (SQLite: busy timeout, journal mode, synchronous, read
 * back; refused with DB_ERR when not applied).  In DB_OPEN_SERVE mode also
 * checks the schema version and prepares every statement once.  On success
 * *out owns the connection (release it with db_close); on failure *out is
 * untouched and err says why.
 */
enum db_result db_open(const struct config *cfg, enum db_open_mode mode,
		       struct db **out, char *err, size_t errlen);
/*
 * As db_open, for a request that started at start_ns (CLOCK_MONOTONIC, as
 * metrics_now_ns; 0: none): PostgreSQL does not begin a connect that could
 * end past that request's deadline (DB_DEADLINE_MS), and answers DB_BUSY
 * at once instead.
 */
enum db_result db_open_at(const struct config *cfg, enum db_open_mode mode,
			  uint64_t start_ns, struct db **out, char *err, size_t errlen);

/* Finalizes every statement and closes the connection; NULL is a no-op. */
void db_close(struct db *db);

/*
 * Creates the schema when missing and records its version, and puts back
 * the kept user count when it is missing (with a line on stderr); idempotent.
 */
enum db_result db_migrate(struct db *db, char *err, size_t errlen);

/* Prints the statements db_open and each transaction run for cfg. */
void db_print_plan(const struct config *cfg, FILE *out);

/*
 * cfg's DATABASE_URL as `sqlite-fcgi config` prints it: every secret (the
 * password, sslpassword) replaced by "***", the rest as its engine reads
 * it; empty when DATABASE_URL is (SQLite: DB_PATH names the file) or
 * cannot be parsed.
 */
void db_mask_url(const struct config *cfg, char *out, size_t outlen);

/* The size in bytes of cfg's write-ahead log now; -1 when there is none. */
long long db_wal_bytes(const struct config *cfg);

/*
 * The db_errname()s of every engine that mean "busy" (db_result DB_BUSY or
 * DB_RETRY), in a fixed order, for /metrics: up to max into out; returns
 * how many.
 */
size_t db_busy_names(const char **out, size_t max);

/*
 * sqlite-fcgi backup and restore, safe while the pool serves: 0, or -1
 * with err; neither leaves a half-written file.  db_backup_refusal: 0 when
 * cfg's engine has them, -1 when it does not, with the tool to use in msg.
 */
int db_backup_refusal(const struct config *cfg, char *msg, size_t msglen);
int db_backup_to(const struct config *cfg, const char *dest, int wait_ms,
		 char *err, size_t errlen);
int db_restore_from(const struct config *cfg, const char *src, int wait_ms,
		    char *err, size_t errlen);

/*
 * One line about the open database for the operator's log, e.g.
 * "schema version 2, journal_mode wal".
 */
enum db_result db_describe(struct db *db, char *out, size_t outlen);

/*
 * Why an operation of the data layer failed, as its callers keep it past
 * the connection's next call (a batch's failure handed to each request of
 * it, the answer and the log line made from it): the result, the step that
 * failed ("begin", "commit", ...; NULL when it was the caller's own
 * statement), and the engine's error as db_errcode, db_errname and
 * db_errmsg gave it.  routes_failure.c turns it into the HTTP answer.
 */
struct db_failure {
	enum db_result res;
	const char *step;
	int code;
	char name[48];
	char msg[ERR_LEN];
};

/* Fills f with res, step and db's last failure (db NULL: "database unavailable"). */
void db_failure_set(struct db_failure *f, enum db_result res, const char *step,
		    const struct db *db);

/* Starts the write transaction (deferred or immediate, as configured). */
enum db_result db_begin(struct db *db);

/*
 * Starts a transaction as how says (SQLite; PostgreSQL begins each one the
 * same way, READ COMMITTED, as Django does).
 */
enum db_result db_begin_as(struct db *db, enum db_begin how);
enum db_result db_commit(struct db *db);
/* Rolls back the open transaction, if any; safe to call after any failure. */
void db_rollback(struct db *db);

/*
 * Group commit (commit.c): each request of a shared write transaction runs
 * between DB_SAVEPOINT_BEGIN and DB_SAVEPOINT_RELEASE, or, when it failed
 * on its own (a taken username, a bad row), DB_SAVEPOINT_ROLLBACK, which
 * undoes what it wrote and ends the savepoint; the transaction stays open
 * for the next request.  Savepoints do not nest here: one at a time.
 */
enum db_result db_savepoint(struct db *db, enum db_savepoint step);

/* Reads up to DB_RECENT_USERS whole rows, as the seed view does; *nread gets the count. */
enum db_result db_users_read_recent(struct db *db, int *nread);
/* DB_CONSTRAINT when the username is taken. */
enum db_result db_user_insert(struct db *db, const char *username,
			      const char *email, const char *password_hash);
/*
 * The number of users, as this transaction sees it.  DB_INTEGRITY when the
 * kept count is missing (`sqlite-fcgi migrate` repairs it).
 */
enum db_result db_user_count(struct db *db, long long *count);
/*
 * In one read-only transaction, which never takes (nor waits in the queue
 * for) the write lock: the total number of users in *count and, newest
 * first, up to limit (0..DB_PAGE_MAX) users whose id is below before_id
 * (0: from the newest) in rows, their number in *nrows.  Opens and ends
 * its own transaction: call it outside db_begin/db_commit.
 */
enum db_result db_users_page(struct db *db, long long before_id, int limit,
			     struct db_user_row *rows, int *nrows, long long *count);

/*
 * Reads up to DB_ROWS_READ whole rows in the open transaction or, outside
 * one, in a statement of its own (never taking the write lock).
 */
enum db_result db_rows_read(struct db *db, int *nread);
/*
 * Inserts row; *id gets its id.  Outside a transaction the INSERT is one
 * of its own and, like a BEGIN IMMEDIATE, first waits for the lock file
 * when there is one (SQLite, WRITE_LOCK_WAIT=flock).
 */
enum db_result db_row_insert(struct db *db, const struct db_row *row, long long *id);

/* The connection answers, and (SQLite) its file is still at DB_PATH. */
enum db_result db_ping(struct db *db);

/*
 * Whether the last failure leaves this connection of no more use (SQLite:
 * I/O error, file moved, deleted or replaced, corrupt, read-only), and in
 * which order the caller should replace it.
 */
enum db_reopen db_needs_reopen(const struct db *db);
/* Whether *db opened read-only though it asked to write (db_engine.h). */
bool db_opened_read_only(const struct db *db);

/*
 * The request now served on db started at start_ns (CLOCK_MONOTONIC, as
 * metrics_now_ns): its waits for the database end DB_DEADLINE_MS after it
 * (PostgreSQL; SQLite's waits are bounded by its busy timeout and ignore
 * this).  Call before the request's first statement.
 */
void db_deadline_from(struct db *db, uint64_t start_ns);

/*
 * 0 when this process may serve cfg's database; -1 when it must not, with
 * the reason and the fix in msg, for the client and the log (SQLite:
 * another file took the place of the one this worker served, and opening
 * it would pair it with the old file's WAL; see db_sqlite_file.c).  Call
 * before each request; a connection left open must then be closed.
 */
int db_refusal(const struct config *cfg, char *msg, size_t msglen);

#endif
