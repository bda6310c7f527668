#ifndef SQLITE_FCGI_DB_TYPES_H
#define SQLITE_FCGI_DB_TYPES_H

/*
 * What the data layer's callers (db.h) and its engines (db_engine.h) both
 * know: the results, the modes and steps of a connection's calls, the rows
 * they carry, and a connection's last failure.  The calls themselves and
 * their contracts are db.h's.
 */

enum db_result {
	DB_OK,
	DB_BUSY,	/* the lock could not be had in time: try again later */
	DB_CONSTRAINT,	/* the username is taken: nothing was written */
	DB_INTEGRITY,	/* any other constraint, or the kept count row missing:
			   the data or schema is not what this program expects */
	DB_RETRY,	/* the engine rolled the transaction back (PostgreSQL:
			   serialization failure, deadlock): run it again */
	DB_UNKNOWN,	/* COMMIT was sent and not confirmed (PostgreSQL: the
			   connection lost or the deadline passed during it, or
			   the wait for the synchronous standby cancelled): the
			   transaction may be committed, on one server only */
	DB_ERR		/* any other failure: I/O, full disk, corrupt file, bug */
};

#define DB_SCHEMA_VERSION 3

struct db;

enum db_open_mode {
	DB_OPEN_SERVE,	 /* the schema must exist at the current version */
	DB_OPEN_MIGRATE	 /* the database is created when missing */
};

enum db_begin {
	DB_BEGIN_CONFIGURED,	/* as SQLITE_TXN says: db_begin */
	DB_BEGIN_READ,		/* a transaction that only reads: DEFERRED, and
				   never the lock file (it takes no write lock) */
	DB_BEGIN_IMMEDIATE	/* IMMEDIATE whatever SQLITE_TXN says, queueing on
				   the lock file when there is one */
};

/* Group commit's steps: db_savepoint. */
enum db_savepoint { DB_SAVEPOINT_BEGIN, DB_SAVEPOINT_RELEASE, DB_SAVEPOINT_ROLLBACK };

/*
 * How many whole rows the seed view reads (User.objects.all()[:10]): each
 * engine's SQL says LIMIT DB_STR(DB_RECENT_USERS).
 */
#define DB_RECENT_USERS 10
#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)

/* GET /users/: at most this many users a page. */
#define DB_PAGE_MAX 100
/* Django's username is at most 150 characters (4 bytes each in UTF-8). */
#define DB_USERNAME_MAX (150 * 4)

struct db_user_row {
	long long id;
	char username[DB_USERNAME_MAX + 1];
	char date_joined[40];	/* as stored: "YYYY-MM-DD HH:MM:SS.fff" */
};

/*
 * Upstream's endpoint matrix (rows.h, docs/matrix.md): a row of Django's
 * basic_model_row.  The texts are NUL-terminated UTF-8 without NUL; the
 * floats are finite.
 */
struct db_row {
	const char *name, *campaign, *voice, *recognize, *growth, *yard, *discussion;
	double inside, side;
};
/* The matrix reads Row.objects.all()[:DB_ROWS_READ], whole rows. */
#define DB_ROWS_READ 10

/*
 * How a connection whose last failure leaves it of no more use is to be
 * replaced: db_needs_reopen.
 */
enum db_reopen {
	DB_REOPEN_NO,
	DB_REOPEN_CLOSE_FIRST,	/* close it; open a new one after */
	DB_REOPEN_OPEN_FIRST,	/* open a new one, then close it (SQLite after an
				   I/O error: see db_sqlite.c) */
	DB_REOPEN_CLOSE_ALL	/* close it and every other connection of this
				   process to the database before a new one opens
				   (SQLite, read-only: see db_sqlite.c) */
};

/* Forgets the last failure (call before each request). */
void db_clear_error(struct db *db);

/*
 * The last failure, for logs: the engine's code (SQLite's extended result
 * code), its name ("SQLITE_BUSY_SNAPSHOT") and the engine's message.
 */
int db_errcode(const struct db *db);
const char *db_errname(const struct db *db);
const char *db_errmsg(const struct db *db);

#endif
