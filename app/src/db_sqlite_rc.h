#ifndef SQLITE_FCGI_DB_SQLITE_RC_H
#define SQLITE_FCGI_DB_SQLITE_RC_H

#include <sqlite3.h>

/*
 * The SQLite calls whose result says nothing new, named so that a reader
 * sees why it is not checked.  sqlite3_reset and sqlite3_finalize return
 * the error of the statement's last sqlite3_step again (SQLITE_OK after
 * SQLITE_ROW, SQLITE_DONE or no step), and every caller has checked that
 * step's own result; finalize always frees the statement.
 * sqlite3_clear_bindings returns SQLITE_OK for every prepared statement.
 */
static inline void sq_reset(sqlite3_stmt *st)
{
	(void)sqlite3_reset(st);
}

static inline void sq_finalize(sqlite3_stmt *st)
{
	(void)sqlite3_finalize(st);
}

static inline void sq_clear_bindings(sqlite3_stmt *st)
{
	(void)sqlite3_clear_bindings(st);
}

#endif
