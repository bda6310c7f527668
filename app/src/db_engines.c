#include "db_engine.h"

/*
 * The engine table: the only place outside an engine's own files that
 * names it.  Each engine defines its table of operations in its db_X.c.
 */

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

const struct db_engine db_engines[] = {
	{ ENGINE_SQLITE, &db_sqlite_ops },
	{ ENGINE_POSTGRES, &db_pg_ops },
};

const size_t db_nengines = sizeof(db_engines) / sizeof(db_engines[0]);
