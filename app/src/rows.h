#ifndef SQLITE_FCGI_ROWS_H
#define SQLITE_FCGI_ROWS_H

#include <stdbool.h>

#include "db.h"

/*
 * Upstream's endpoint matrix (docs/matrix.md): eight endpoints that read
 * and write basic_model_row in each of the shapes a Django view can give
 * a transaction.  A read is Row.objects.all()[:10], whole rows; a write
 * inserts one row.  routes.c maps each path to its shape.
 */

enum rows_txn {
	ROWS_AUTOCOMMIT,	/* each statement on its own, as Django's autocommit */
	ROWS_ATOMIC,		/* transaction.atomic: BEGIN as SQLITE_TXN says;
				   one that only reads begins DEFERRED */
	ROWS_IMMEDIATE		/* an explicit BEGIN IMMEDIATE */
};

enum rows_step { ROWS_NONE, ROWS_READ, ROWS_WRITE };

struct rows_shape {
	enum rows_txn txn;
	enum rows_step steps[2];	/* in order; ROWS_NONE: no second step */
};

extern const struct rows_shape rows_view_read, rows_view_read_transaction,
	rows_view_write, rows_view_read_write, rows_view_write_read,
	rows_view_write_read_transaction, rows_view_read_write_transaction,
	rows_view_read_write_transaction_immediate;

/* Whether the shape inserts a row (its endpoint takes the form by POST). */
bool rows_writes(const struct rows_shape *shape);

struct rows_done {
	int nread;		/* rows read by the last read; -1: no read */
	long long id;		/* the id of the row written; 0: no write */
	const char *failed;	/* on failure, the step: "begin", "read", "insert", "commit" */
	/*
	 * On failure, true when the row was committed before the step that
	 * failed (in autocommit, write_read/'s read): id is then that row's.
	 */
	bool kept;
};

/*
 * Runs shape's steps in its transaction, inserting row (validated; NULL
 * when the shape does not write).  Returns DB_OK with *done filled, or the
 * engine's answer of the step that failed (done->failed), with the
 * transaction rolled back: nothing of a failed transaction is written.
 * In autocommit each step commits on its own, as in Django: a write that
 * came before the failed step stays (done->kept).
 */
enum db_result rows_run(struct db *db, const struct rows_shape *shape,
			const struct db_row *row, struct rows_done *done);

struct commit_queue;

/*
 * rows_run with GROUP_COMMIT=on: what writes runs in a shared transaction
 * of q (commit.h), a savepoint of its own, and returns once that
 * transaction committed or failed; reads outside a transaction run on db,
 * the thread's own connection.  On failure *fail says why (from whichever
 * connection failed; its step is done->failed's).  A row refused on its
 * own (DB_INTEGRITY: a constraint) is rolled back alone; the others of its
 * transaction commit.
 */
enum db_result rows_run_grouped(struct commit_queue *q, struct db *db,
				const struct rows_shape *shape, const struct db_row *row,
				struct rows_done *done, struct db_failure *fail);

#endif
