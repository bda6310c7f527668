#ifndef SQLITE_FCGI_RECONNECT_H
#define SQLITE_FCGI_RECONNECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "db.h"

/*
 * The rules every connection a worker serves with follows (a serving
 * thread's own, and the writer of group commit, commit.c): opened again
 * when a failure dropped it, and replaced once its last failure leaves it
 * of no more use, in the order the engine asks for.
 */

/*
 * True at most once a second for a given last, whichever thread asks: a
 * fault can last long under a heavy load, and the log is the process's.
 */
bool reconnect_warning_due(_Atomic time_t *last);

/* Opens *db when it is NULL; a failure is logged (at most once a second). */
void reconnect_ensure(const struct config *cfg, struct db **db);

/*
 * Replaces *db when its last failure leaves it of no more use: closed now
 * (and opened again by reconnect_ensure on the next use), or (SQLite after
 * an I/O error) a new one opened before the old one is closed, *db left
 * NULL when that open fails.  Call after the request is answered.
 */
void reconnect_replace_broken(const struct config *cfg, struct db **db);

#endif
