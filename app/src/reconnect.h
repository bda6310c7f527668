#ifndef SQLITE_FCGI_RECONNECT_H
#define SQLITE_FCGI_RECONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"

/*
 * The connections a worker serves with (each serving thread's own, and
 * group commit's writer, commit.c), opened and closed here only: opened
 * again when a failure dropped one, and replaced once its last failure
 * leaves it of no more use, in the order the engine asks for.  When the
 * engine asks for every connection of the process to close
 * (DB_REOPEN_CLOSE_ALL), each holder closes its own at its next call here,
 * idle threads woken for it through the descriptor reconnect_notify_on
 * names, and no new connection opens while an old one is still open.
 * Each holder keeps, beside its struct db *, the generation it was opened
 * in (0 before the first open).
 */

/* An eventfd written to when every connection must close (-1: none). */
void reconnect_notify_on(int fd);

/* Opens *db (NULL) for serving; DB_OK, or the failure with err set. */
enum db_result reconnect_open(const struct config *cfg, struct db **db, unsigned *gen,
			      char *err, size_t errlen);

/* Closes *db (NULL: a no-op) and sets it to NULL. */
void reconnect_close(struct db **db, unsigned *gen);

/* Closes *db when every connection of the process was asked to close; true if it did. */
bool reconnect_drop_stale(struct db **db, unsigned *gen);

/*
 * Closes *db, and asks every connection of the process to close, when it
 * opened read-only (db_opened_read_only: a read-only directory or file at
 * the time).  Such a connection could not write once the fault is gone,
 * and an open one keeps the others of the process read-only too
 * (db_sqlite.c); call it before reconnect_ensure.  True if it closed *db.
 */
bool reconnect_retire_read_only(struct db **db, unsigned *gen);

/*
 * Readies *db for the request that started at start_ns: drops it when
 * stale, then opens it when it is NULL (db_open_at) unless an old
 * connection of the process is still open after up to 200 ms of waiting
 * for them, and clears its last error and bounds its waits from start_ns
 * (db_deadline_from).  A failure to open is logged (at most once a
 * second) and *db left NULL.
 */
void reconnect_ensure(const struct config *cfg, struct db **db, unsigned *gen,
		      uint64_t start_ns);

/*
 * Replaces *db when its last failure leaves it of no more use: closed now
 * (and opened again by reconnect_ensure on the next use; with
 * DB_REOPEN_CLOSE_ALL the other connections of the process are asked to
 * close too), or (SQLite after an I/O error) a new one opened before the
 * old one is closed, *db left NULL when that open fails.  Call after the
 * request is answered.
 */
void reconnect_replace_broken(const struct config *cfg, struct db **db, unsigned *gen);

#endif
