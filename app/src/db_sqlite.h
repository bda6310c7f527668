#ifndef SQLITE_FCGI_DB_SQLITE_H
#define SQLITE_FCGI_DB_SQLITE_H

#include <stddef.h>

#include "db.h"

/*
 * What only the SQLite engine has, for its tests and for callers that know
 * they hold a SQLite connection.  db_sqlite_conn.h is the engine's inside.
 */

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

#endif
