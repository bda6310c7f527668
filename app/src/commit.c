#include "commit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "reconnect.h"

/*
 * One queued request.  It lives on the requesting thread's stack until
 * done is set; the leader must not touch it after that.
 */
struct commit_job {
	commit_work_fn work;
	void *arg;
	enum db_result res;
	struct db_failure *err;
	uint64_t queued_ns;	/* metrics_now_ns when queued: its deadline's start */
	bool done;
	pthread_cond_t wake;	/* its batch is over, or it is to lead */
	struct commit_job *next;
};

struct commit_queue {
	const struct config *cfg;
	pthread_mutex_t lock;	/* head, tail, leading and every job's done */
	struct commit_job *head, *tail;
	bool leading;		/* a thread runs batches: it alone uses what follows */
	struct db *writer;	/* NULL until opened, or after a failure dropped it */
	unsigned writer_gen;	/* the generation it was opened in (reconnect.h) */
	struct commit_job **batch;	/* GROUP_COMMIT_MAX slots */
};

struct commit_queue *commit_queue_create(const struct config *cfg)
{
	struct commit_queue *q = calloc(1, sizeof(*q));
	char err[ERR_LEN];
	int rc;

	if (q == NULL) {
		log_warn("%s: out of memory", __func__);
		return NULL;
	}
	q->batch = calloc((size_t)cfg->group_commit_max, sizeof(*q->batch));
	if (q->batch == NULL) {
		log_warn("%s: out of memory", __func__);
		free(q);
		return NULL;
	}
	if ((rc = pthread_mutex_init(&q->lock, NULL)) != 0) {
		log_warn("%s: pthread_mutex_init: %s", __func__, strerror(rc));
		free(q->batch);
		free(q);
		return NULL;
	}
	q->cfg = cfg;
	/* As a serving thread's: a failure is retried at each batch. */
	if (reconnect_open(cfg, &q->writer, &q->writer_gen, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	return q;
}

void commit_queue_free(struct commit_queue *q)
{
	if (q == NULL)
		return;
	reconnect_close(&q->writer, &q->writer_gen);
	/* Unlocked and unused by now: destroying it cannot fail. */
	(void)pthread_mutex_destroy(&q->lock);
	free(q->batch);
	free(q);
}

static bool fails_alone(enum db_result res)
{
	return res == DB_CONSTRAINT || res == DB_INTEGRITY;
}

/* Every job of the batch not failed on its own fails as err says. */
static void fail_batch(struct commit_job **jobs, int n, const struct db_failure *err)
{
	for (int i = 0; i < n; i++) {
		if (fails_alone(jobs[i]->res))
			continue;	/* its answer stands: nothing of it was to be written */
		jobs[i]->res = err->res;
		*jobs[i]->err = *err;
	}
}

/* Fails the batch after step failed on the writer; rolls back what is open. */
static void abort_batch(struct commit_queue *q, struct commit_job **jobs, int n,
			enum db_result res, const char *step)
{
	struct db_failure err;

	db_failure_set(&err, res, step, q->writer);
	if (q->writer != NULL)
		db_rollback(q->writer);
	fail_batch(jobs, n, &err);
}

/*
 * Runs one job in its savepoint.  Returns DB_OK when the transaction can
 * go on (the job committed to it, or failed alone and was rolled back),
 * else the failure that ends the batch, *step saying where.
 */
static enum db_result run_job(struct db *db, struct commit_job *job, const char **step)
{
	enum db_result res;

	*step = "savepoint";
	if ((res = db_savepoint(db, DB_SAVEPOINT_BEGIN)) != DB_OK)
		return res;
	job->res = job->work(db, job->arg);
	if (job->res == DB_OK)
		return db_savepoint(db, DB_SAVEPOINT_RELEASE);
	*step = NULL;	/* the job's own statement */
	if (!fails_alone(job->res))
		return job->res;
	db_failure_set(job->err, job->res, NULL, db);
	*step = "rollback to savepoint";
	return db_savepoint(db, DB_SAVEPOINT_ROLLBACK);
}

/* BEGIN IMMEDIATE; false (the batch failed) when it did not work. */
static bool begin_batch(struct commit_queue *q, struct commit_job **jobs, int n)
{
	char msg[ERR_LEN];
	uint64_t start;
	enum db_result res;

	if (db_refusal(q->cfg, msg, sizeof(msg)) != 0) {
		struct db_failure err;

		db_failure_set(&err, DB_ERR, "begin", NULL);
		snprintf(err.msg, sizeof(err.msg), "%s", msg);
		/* It belongs to the file that was replaced. */
		reconnect_close(&q->writer, &q->writer_gen);
		fail_batch(jobs, n, &err);
		return false;
	}
	/* The batch's waits, the open's too, end by its oldest request's deadline. */
	(void)reconnect_retire_read_only(&q->writer, &q->writer_gen);
	reconnect_ensure(q->cfg, &q->writer, &q->writer_gen, jobs[0]->queued_ns);
	if (q->writer == NULL) {
		abort_batch(q, jobs, n, DB_ERR, "begin");
		return false;
	}
	start = metrics_now_ns();
	res = db_begin_as(q->writer, DB_BEGIN_IMMEDIATE);
	metrics_observe(HIST_LOCK_WAIT, metrics_now_ns() - start);
	if (res != DB_OK)
		abort_batch(q, jobs, n, res, "begin");
	return res == DB_OK;
}

/* One shared transaction for jobs[0..n): each job's res and err set. */
static void run_batch(struct commit_queue *q, struct commit_job **jobs, int n)
{
	const char *step = NULL;
	enum db_result res = DB_OK;
	uint64_t start;

	for (int i = 0; i < n; i++)
		jobs[i]->res = DB_OK;
	if (!begin_batch(q, jobs, n))
		return;
	for (int i = 0; i < n && res == DB_OK; i++)
		res = run_job(q->writer, jobs[i], &step);
	if (res != DB_OK) {
		abort_batch(q, jobs, n, res, step != NULL ? step : "in a shared transaction");
		return;
	}
	start = metrics_now_ns();
	res = db_commit(q->writer);
	metrics_observe(HIST_COMMIT, metrics_now_ns() - start);
	metrics_observe(HIST_BATCH_SIZE, (uint64_t)n);
	if (res != DB_OK)
		abort_batch(q, jobs, n, res, "commit");
}

/* Takes up to GROUP_COMMIT_MAX jobs off the queue's head (lock held). */
static int take_batch(struct commit_queue *q, struct commit_job **jobs)
{
	int n = 0;

	while (q->head != NULL && n < q->cfg->group_commit_max) {
		jobs[n++] = q->head;
		q->head = q->head->next;
	}
	if (q->head == NULL)
		q->tail = NULL;
	return n;
}

/* Hands each job its result (lock held): the jobs' threads return. */
static void finish_batch(struct commit_job **jobs, int n)
{
	for (int i = 0; i < n; i++) {
		jobs[i]->done = true;
		/* Signalling a condition variable of ours cannot fail. */
		(void)pthread_cond_signal(&jobs[i]->wake);
	}
}

/*
 * The lock is a default mutex of ours, taken and let go by the same
 * thread, never destroyed while in use: neither call can fail.
 */
static void lock(struct commit_queue *q)
{
	(void)pthread_mutex_lock(&q->lock);
}

static void unlock(struct commit_queue *q)
{
	(void)pthread_mutex_unlock(&q->lock);
}

/*
 * Runs batches (lock held on entry and return, let go while a batch runs)
 * until own is done.  The writer is replaced, when its failure asks for
 * it, after the batch is answered and before the next one begins.
 */
static void lead(struct commit_queue *q, struct commit_job *own)
{
	while (!own->done) {
		int n = take_batch(q, q->batch);

		unlock(q);
		run_batch(q, q->batch, n);
		lock(q);
		finish_batch(q->batch, n);
		unlock(q);
		reconnect_replace_broken(q->cfg, &q->writer, &q->writer_gen);
		lock(q);
	}
}

void commit_drop_stale(struct commit_queue *q)
{
	lock(q);
	if (!q->leading)
		(void)reconnect_drop_stale(&q->writer, &q->writer_gen);
	unlock(q);
}

/* Appends job to the queue (lock held). */
static void enqueue(struct commit_queue *q, struct commit_job *job)
{
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

/*
 * Waits (lock held) until job is done, leading when no thread does; a
 * leader that is done wakes the thread of the first job still queued,
 * which leads next.
 */
static void wait_or_lead(struct commit_queue *q, struct commit_job *job)
{
	while (!job->done) {
		if (q->leading) {
			/* Waiting on our own mutex and condition: it cannot fail. */
			(void)pthread_cond_wait(&job->wake, &q->lock);
			continue;
		}
		q->leading = true;
		lead(q, job);
		/* No thread may wait for a stale writer to close while none leads. */
		(void)reconnect_drop_stale(&q->writer, &q->writer_gen);
		q->leading = false;
		if (q->head != NULL)
			(void)pthread_cond_signal(&q->head->wake);
	}
}

enum db_result commit_run(struct commit_queue *q, commit_work_fn work, void *arg,
			  struct db_failure *err)
{
	struct commit_job job = { .work = work, .arg = arg, .res = DB_ERR, .err = err,
				  .queued_ns = metrics_now_ns(), .done = false, .next = NULL };
	int rc;

	*err = (struct db_failure){ .res = DB_OK, .step = NULL, .code = 0, .name = "OK" };
	if ((rc = pthread_cond_init(&job.wake, NULL)) != 0) {
		db_failure_set(err, DB_ERR, "queue", NULL);
		snprintf(err->msg, sizeof(err->msg), "pthread_cond_init: %s", strerror(rc));
		return DB_ERR;
	}
	lock(q);
	enqueue(q, &job);
	wait_or_lead(q, &job);
	unlock(q);
	(void)pthread_cond_destroy(&job.wake);	/* no thread waits on it now */
	return job.res;
}
