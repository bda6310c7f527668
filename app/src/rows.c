#include "rows.h"

#include "commit.h"

/*
 * The shapes of upstream's eight views (djangosqlite/urls.py there): the
 * order of the read and the write, and what surrounds them.
 */
const struct rows_shape rows_view_read = { ROWS_AUTOCOMMIT, { ROWS_READ, ROWS_NONE } };
const struct rows_shape rows_view_read_transaction = { ROWS_ATOMIC, { ROWS_READ, ROWS_NONE } };
const struct rows_shape rows_view_write = { ROWS_AUTOCOMMIT, { ROWS_WRITE, ROWS_NONE } };
const struct rows_shape rows_view_read_write = { ROWS_AUTOCOMMIT, { ROWS_READ, ROWS_WRITE } };
const struct rows_shape rows_view_write_read = { ROWS_AUTOCOMMIT, { ROWS_WRITE, ROWS_READ } };
const struct rows_shape rows_view_write_read_transaction = { ROWS_ATOMIC, { ROWS_WRITE, ROWS_READ } };
/* Under Django's defaults, the one that fails: its read must be upgraded to a write. */
const struct rows_shape rows_view_read_write_transaction = { ROWS_ATOMIC, { ROWS_READ, ROWS_WRITE } };
const struct rows_shape rows_view_read_write_transaction_immediate = {
	ROWS_IMMEDIATE, { ROWS_READ, ROWS_WRITE }
};

bool rows_writes(const struct rows_shape *shape)
{
	return shape->steps[0] == ROWS_WRITE || shape->steps[1] == ROWS_WRITE;
}

/*
 * A transaction that only reads never upgrades its lock, so it cannot meet
 * the failure a deferred BEGIN risks, and needs no write lock: it begins
 * DEFERRED whatever SQLITE_TXN says, as GET /users/ does, and readers do
 * not queue behind writers.
 */
static enum db_begin begin_for(const struct rows_shape *shape)
{
	if (shape->txn == ROWS_IMMEDIATE)
		return DB_BEGIN_IMMEDIATE;
	return rows_writes(shape) ? DB_BEGIN_CONFIGURED : DB_BEGIN_READ;
}

static enum db_result run_step(struct db *db, enum rows_step step,
			       const struct db_row *row, struct rows_done *done)
{
	enum db_result res = DB_OK;

	if (step == ROWS_READ) {
		done->failed = "read";
		res = db_rows_read(db, &done->nread);
	} else if (step == ROWS_WRITE) {
		done->failed = "insert";
		res = db_row_insert(db, row, &done->id);
	}
	return res;
}

/* What a run reports before its first step. */
static void done_start(struct rows_done *done)
{
	*done = (struct rows_done){ .nread = -1, .id = 0, .failed = "begin", .kept = false };
}

/*
 * After a failure: a row written stays only in autocommit, where its own
 * statement committed it before the step that failed.
 */
static void done_failed(struct rows_done *done, const struct rows_shape *shape)
{
	done->kept = shape->txn == ROWS_AUTOCOMMIT && done->id != 0;
	if (!done->kept)
		done->id = 0;
}

enum db_result rows_run(struct db *db, const struct rows_shape *shape,
			const struct db_row *row, struct rows_done *done)
{
	bool txn = shape->txn != ROWS_AUTOCOMMIT;
	enum db_result res = DB_OK;

	done_start(done);
	if (txn && (res = db_begin_as(db, begin_for(shape))) != DB_OK)
		goto fail;
	for (int i = 0; i < 2; i++)
		if ((res = run_step(db, shape->steps[i], row, done)) != DB_OK)
			goto fail;
	done->failed = "commit";
	if (txn && (res = db_commit(db)) != DB_OK)
		goto fail;
	done->failed = NULL;
	return DB_OK;
fail:
	done_failed(done, shape);
	db_rollback(db);	/* nothing to roll back in autocommit */
	return res;
}

/* A write's part of a shared transaction (group commit). */
struct rows_job {
	const struct rows_shape *shape;
	const struct db_row *row;
	struct rows_done *done;
	int from, to;		/* the steps it runs: shape->steps[from..to) */
};

static enum db_result steps_work(struct db *db, void *arg)
{
	struct rows_job *job = arg;
	enum db_result res = DB_OK;

	for (int i = job->from; i < job->to && res == DB_OK; i++)
		res = run_step(db, job->shape->steps[i], job->row, job->done);
	return res;
}

/*
 * Steps [from, to) of shape: in a shared transaction of q when they
 * write, on the thread's own connection db when they only read.
 */
static enum db_result run_grouped(struct commit_queue *q, struct db *db,
				  struct rows_job *job, struct db_failure *fail)
{
	enum db_result res;
	bool writes = false;

	for (int i = job->from; i < job->to; i++)
		writes = writes || job->shape->steps[i] == ROWS_WRITE;
	if (!writes) {
		if ((res = steps_work(db, job)) != DB_OK)
			db_failure_set(fail, res, job->done->failed, db);
		return res;
	}
	if ((res = commit_run(q, steps_work, job, fail)) == DB_OK)
		return DB_OK;
	job->done->id = 0;	/* its transaction did not commit */
	if (fail->step != NULL)
		job->done->failed = fail->step;	/* the batch's BEGIN or COMMIT */
	fail->step = job->done->failed;
	return res;
}

enum db_result rows_run_grouped(struct commit_queue *q, struct db *db,
				const struct rows_shape *shape, const struct db_row *row,
				struct rows_done *done, struct db_failure *fail)
{
	struct rows_job job = { .shape = shape, .row = row, .done = done, .from = 0, .to = 2 };
	enum db_result res = DB_OK;

	if (!rows_writes(shape)) {
		if ((res = rows_run(db, shape, row, done)) != DB_OK)
			db_failure_set(fail, res, done->failed, db);
		return res;
	}
	done_start(done);
	if (shape->txn != ROWS_AUTOCOMMIT) {
		res = run_grouped(q, db, &job, fail);
	} else {
		/* In autocommit each step is a transaction of its own, as in Django. */
		for (job.from = 0; job.from < 2 && res == DB_OK; job.from++) {
			job.to = job.from + 1;
			res = run_grouped(q, db, &job, fail);
		}
	}
	if (res == DB_OK) {
		done->failed = NULL;
		return DB_OK;
	}
	done_failed(done, shape);
	return res;
}
