#include "reconnect.h"

#include "err.h"
#include "log.h"

bool reconnect_warning_due(_Atomic time_t *last)
{
	time_t now = time(NULL);

	return atomic_exchange_explicit(last, now, memory_order_relaxed) != now;
}

void reconnect_ensure(const struct config *cfg, struct db **db)
{
	static _Atomic time_t last_warning;
	char err[ERR_LEN];

	if (*db != NULL)
		return;
	if (db_open(cfg, DB_OPEN_SERVE, db, err, sizeof(err)) == DB_OK) {
		log_info("database reopened");
		return;
	}
	if (reconnect_warning_due(&last_warning))
		log_warn("database unavailable: %s", err);
}

/*
 * The order matters after an I/O error (db_sqlite.c, sq_needs_reopen): a
 * commit whose sync failed must not come back when the last connection to
 * the file closes.
 */
void reconnect_replace_broken(const struct config *cfg, struct db **db)
{
	struct db *fresh = NULL;
	enum db_reopen how;
	char err[ERR_LEN];

	if (*db == NULL || (how = db_needs_reopen(*db)) == DB_REOPEN_NO)
		return;
	log_warn("closing the database connection after: %s (%s, %d)",
		 db_errmsg(*db), db_errname(*db), db_errcode(*db));
	if (how == DB_REOPEN_OPEN_FIRST &&
	    db_open(cfg, DB_OPEN_SERVE, &fresh, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	db_close(*db);
	*db = fresh;
	if (fresh != NULL)
		log_info("database reopened");
}
