#ifndef SQLITE_FCGI_COMMIT_H
#define SQLITE_FCGI_COMMIT_H

#include "config.h"
#include "db.h"

/*
 * Group commit (GROUP_COMMIT=on): the write requests of a worker's serving
 * threads share transactions, so that one COMMIT, and its one sync, makes
 * many of them durable.  A request's work is queued on its process's queue
 * and runs on the process's one writer connection, in a SAVEPOINT of its
 * own, in the next transaction: the thread that finds no leader leads,
 * taking what is queued (at most GROUP_COMMIT_MAX) into one BEGIN
 * IMMEDIATE ... COMMIT; the requests that arrive meanwhile form the next
 * batch, which a waiting thread leads.  Nothing is answered before its
 * batch's COMMIT returned.  Only db.h is used: both engines work the same.
 */

/*
 * A request's work in the shared transaction, on the writer connection db:
 * its statements, its results written into arg.  Runs on the leader's
 * thread while the requesting thread waits.  A result other than DB_OK
 * fails this request alone when it leaves the transaction usable
 * (DB_CONSTRAINT, DB_INTEGRITY: its savepoint is rolled back),
 * and the whole batch otherwise (DB_BUSY, DB_RETRY, DB_ERR).
 */
typedef enum db_result (*commit_work_fn)(struct db *db, void *arg);

struct commit_queue;

/*
 * A process's queue, for cfg (kept; its writer connection is opened on
 * first use).  NULL when out of memory (logged).
 */
struct commit_queue *commit_queue_create(const struct config *cfg);

/* Closes the writer connection and frees q; nothing may be queued.  NULL: a no-op. */
void commit_queue_free(struct commit_queue *q);

/*
 * Closes the writer when every connection of the process was asked to
 * close (reconnect.h) and no batch holds it; a batch's leader closes it
 * itself.
 */
void commit_drop_stale(struct commit_queue *q);

/*
 * Runs work(db, arg) in the next shared transaction and returns once that
 * transaction committed or failed: DB_OK when the request's writes are
 * committed, otherwise its own failure or its batch's, with *err filled
 * (err->step: the batch's step that failed, or NULL for the request's own
 * statement).
 * What work wrote into arg is meaningful only with DB_OK (or, for the
 * request's own failure, as work says).
 */
enum db_result commit_run(struct commit_queue *q, commit_work_fn work, void *arg,
			  struct db_failure *err);

#endif
