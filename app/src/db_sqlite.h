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

#endif
