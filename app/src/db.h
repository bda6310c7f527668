#ifndef SQLITE_FCGI_DB_H
#define SQLITE_FCGI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/*
 * The data layer: the only file that includes <sqlite3.h>.  Every SQL
 * statement of the service is here, so that moving to another database
 * touches one file.  One struct db is one connection, used by one process.
 */

enum db_result {
	DB_OK,
	DB_BUSY,	/* SQLITE_BUSY or SQLITE_LOCKED: try again later */
	DB_CONSTRAINT,	/* a UNIQUE (or other) constraint refused the write */
	DB_INVALID,	/* the input given to a parsing function is malformed */
	DB_ERR		/* any other failure: I/O, full disk, corrupt file, bug */
};

#define DB_ERR_LEN 256
#define DB_SCHEMA_VERSION 2
#define DB_RECENT_USERS 10

struct db;

/*
 * Sets SQLite up for this program: every block SQLite frees is wiped
 * first, so that copies of a password SQLite made while parsing a JSON body
 * do not stay behind in freed memory.  Call once, before any other db_*
 * function; returns 0, or -1 when SQLite was already initialised.
 */
int db_global_init(void);

enum db_open_mode {
	DB_OPEN_SERVE,	 /* the file must exist with the current schema */
	DB_OPEN_MIGRATE	 /* the file is created when missing */
};

/*
 * Opens cfg->db_path, applies the busy timeout, journal mode and
 * synchronous setting of cfg, reads them back and refuses (returns DB_ERR)
 * when SQLite did not apply them.  In DB_OPEN_SERVE mode also checks the
 * schema version and prepares every statement once.  On success *out owns
 * the connection (release it with db_close); on failure *out is untouched
 * and err says why.
 */
enum db_result db_open(const struct config *cfg, enum db_open_mode mode,
		       struct db **out, char *err, size_t errlen);

/* Finalizes every statement and closes the connection; NULL is a no-op. */
void db_close(struct db *db);

/* Creates the schema when missing and records its version; idempotent. */
enum db_result db_migrate(struct db *db, char *err, size_t errlen);

/* Prints the statements db_open and each transaction run for cfg. */
void db_print_plan(const struct config *cfg, FILE *out);

/* The settings SQLite reports for this connection. */
struct db_pragmas {
	char journal_mode[16];
	int synchronous;	/* 0 off, 1 normal, 2 full, 3 extra */
	int busy_timeout_ms;
	int schema_version;
};
enum db_result db_read_pragmas(struct db *db, struct db_pragmas *out);

/* BEGIN DEFERRED or BEGIN IMMEDIATE, as configured. */
enum db_result db_begin(struct db *db);
enum db_result db_commit(struct db *db);
/* Rolls back the open transaction, if any; safe to call after any failure. */
void db_rollback(struct db *db);

/* Reads up to DB_RECENT_USERS whole rows, as the seed view does; *nread gets the count. */
enum db_result db_users_read_recent(struct db *db, int *nread);
/* DB_CONSTRAINT when the username is taken. */
enum db_result db_user_insert(struct db *db, const char *username,
			      const char *email, const char *password_hash);
enum db_result db_user_count(struct db *db, long long *count);
/* SELECT 1: the connection answers, and its file is still at DB_PATH. */
enum db_result db_ping(struct db *db);

/*
 * True when the last failure means this connection is of no more use
 * (I/O error, file moved, deleted or replaced, corrupt, read-only):
 * the caller should close it and open a new one.
 */
bool db_needs_reopen(const struct db *db);

/*
 * Walks the members of the JSON object in text[0..len) with SQLite's JSON
 * functions, calling member() for each in order.  type is SQLite's
 * json_type name ("text", "integer", "object", ...); value is the member's
 * SQL value as text (len bytes, may hold NUL bytes), NULL for JSON null.
 * Returns DB_INVALID with err set when text is not a JSON object or holds
 * a NUL byte (raw or \u0000, which SQLite would cut a string at), or the
 * callback's refusal (it returns non-zero and fills err itself).
 */
typedef int (*db_json_member_fn)(void *ctx, const char *key, const char *type,
				 const char *value, size_t len, char *err,
				 size_t errlen);
enum db_result db_json_object_walk(struct db *db, const char *text, size_t len,
				   db_json_member_fn member, void *ctx,
				   char *err, size_t errlen);

/* Forgets the last failure (call before each request). */
void db_clear_error(struct db *db);

/*
 * The last failure, for logs: SQLite's extended result code, its name
 * ("SQLITE_BUSY_SNAPSHOT"; the primary code's name for an extended code
 * not listed), and SQLite's message.
 */
int db_errcode(const struct db *db);
const char *db_errname(const struct db *db);
/* The name of any SQLite result code, as db_errname gives it. */
const char *db_code_name(int code);
const char *db_errmsg(const struct db *db);

#endif
