/*
 * Group commit (commit.c) on a real SQLite file: threads of one process
 * queue their writes on one queue; each write runs in a savepoint of a
 * shared transaction on the queue's writer connection.  The counts each
 * write sees are exact, a write's own failure is rolled back alone, a
 * failure of the transaction fails its whole batch and writes nothing, and
 * nothing is answered before its COMMIT.  Run plain, under ASan + UBSan
 * and under ThreadSanitizer (make tsan-test).
 */
#include "dbtest.h"

#include <pthread.h>
#include <stdatomic.h>

#include "commit.h"
#include "grouptest.h"

#define NTHREADS 8
#define PER_THREAD 25
#define TOTAL (NTHREADS * PER_THREAD)

static const char *const env[] = {
	"HASH_METHOD=sha512crypt", "HASH_COST=1000", "WRITE_LOCK_WAIT=flock",
	"GROUP_COMMIT=on", "GROUP_COMMIT_MAX=16", NULL
};

/* One user to insert, and what its work saw. */
struct user_job {
	char name[32];
	long long count;	/* the count just after its insert */
	long hold_ms;		/* how long the work keeps the transaction open */
	enum db_result force;	/* returned after the insert instead of DB_OK */
	atomic_int *started;	/* set once the work runs (may be NULL) */
};

static enum db_result insert_and_count(struct db *db, void *arg)
{
	struct user_job *job = arg;
	enum db_result res = db_user_insert(db, job->name, "", "x");

	if (job->started != NULL)
		atomic_store(job->started, 1);
	if (job->hold_ms > 0)
		sleep_ms(job->hold_ms);
	if (res == DB_OK)
		res = db_user_count(db, &job->count);
	return res == DB_OK ? job->force : res;
}

struct submitter {
	pthread_t id;
	int index;
	struct commit_queue *q;
	long long counts[PER_THREAD];
	int failures;
};

static void *submit_many(void *arg)
{
	struct submitter *s = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct user_job job = { .count = -1, .force = DB_OK };
		struct db_failure e;

		snprintf(job.name, sizeof(job.name), "t%d-%d", s->index, i);
		if (commit_run(s->q, insert_and_count, &job, &e) != DB_OK)
			s->failures++;
		s->counts[i] = job.count;
	}
	return NULL;
}

static void every_count_is_exact_under_threads(void **state)
{
	static struct submitter subs[NTHREADS];
	static bool seen[TOTAL + 1];
	struct config cfg;
	struct commit_queue *q;

	(void)state;
	dbtest_config(&t, &cfg, env);
	dbtest_migrate(&cfg);
	open_metrics();
	assert_non_null(q = commit_queue_create(&cfg));
	for (int i = 0; i < NTHREADS; i++) {
		subs[i] = (struct submitter){ .index = i, .q = q };
		assert_int_equal(pthread_create(&subs[i].id, NULL, submit_many, &subs[i]), 0);
	}
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(subs[i].id, NULL), 0);
		assert_int_equal(subs[i].failures, 0);
		for (int j = 0; j < PER_THREAD; j++) {
			long long n = subs[i].counts[j];

			assert_true(n >= 1 && n <= TOTAL);
			assert_false(seen[n]);	/* each N answered once */
			seen[n] = true;
		}
	}
	commit_queue_free(q);
	assert_int_equal(dbtest_query_int(&t, "SELECT count(*) FROM auth_user"), TOTAL);
	/* Every write went through a shared transaction, none larger than the most. */
	assert_int_equal(batched_requests(), TOTAL);
	assert_int_equal(sample(metrics_text(), "sqlite_fcgi_group_commit_batch_size_bucket{le=\"+Inf\"} ")
			 - sample(metrics_text(), "sqlite_fcgi_group_commit_batch_size_bucket{le=\"16\"} "), 0);
	metrics_close();
}

/* A thread that runs one job on the queue; its result and error kept. */
struct one {
	pthread_t id;
	struct commit_queue *q;
	struct user_job job;
	enum db_result res;
	struct db_failure err;
};

static void *submit_one(void *arg)
{
	struct one *o = arg;

	o->res = commit_run(o->q, insert_and_count, &o->job, &o->err);
	return NULL;
}

static void start_one(struct one *o, struct commit_queue *q, const char *name)
{
	o->q = q;
	o->job.count = -1;
	snprintf(o->job.name, sizeof(o->job.name), "%s", name);
	assert_int_equal(pthread_create(&o->id, NULL, submit_one, o), 0);
}

/*
 * A first job holds its batch open until the others are queued behind it,
 * so that they form the next batch, together.  others[i].job is set up by
 * the caller (name aside).
 */
static void run_behind_a_holder(struct commit_queue *q, struct one *others, int n,
				const char *const *names)
{
	struct one holder = { .job = { .hold_ms = 300, .force = DB_OK } };
	atomic_int started = 0;

	holder.job.started = &started;
	start_one(&holder, q, "holder");
	while (!atomic_load(&started))
		sleep_ms(1);
	for (int i = 0; i < n; i++)
		start_one(&others[i], q, names[i]);
	assert_int_equal(pthread_join(holder.id, NULL), 0);
	assert_int_equal(holder.res, DB_OK);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(others[i].id, NULL), 0);
}

static struct commit_queue *queue_with_users(struct config *cfg, const char *const *names)
{
	struct commit_queue *q;

	dbtest_config(&t, cfg, env);
	dbtest_migrate(cfg);
	open_metrics();
	assert_non_null(q = commit_queue_create(cfg));
	for (; names != NULL && *names != NULL; names++) {
		struct user_job job = { .force = DB_OK };
		struct db_failure e;

		snprintf(job.name, sizeof(job.name), "%s", *names);
		assert_int_equal(commit_run(q, insert_and_count, &job, &e), DB_OK);
	}
	return q;
}

static void a_taken_name_fails_alone_in_its_batch(void **state)
{
	static const char *const existing[] = { "taken", NULL };
	static const char *const names[] = { "a", "taken", "b" };
	struct one others[3] = { { .job = { .force = DB_OK } }, { .job = { .force = DB_OK } },
				 { .job = { .force = DB_OK } } };
	struct config cfg;
	struct commit_queue *q;
	long long before;

	(void)state;
	q = queue_with_users(&cfg, existing);
	before = batches();
	run_behind_a_holder(q, others, 3, names);
	/* The holder's batch, then one batch of the three. */
	assert_int_equal(batches(), before + 2);
	assert_int_equal(others[1].res, DB_CONSTRAINT);
	assert_null(others[1].err.step);	/* its own statement, not the batch's */
	assert_non_null(strstr(others[1].err.msg, "UNIQUE"));
	assert_int_equal(others[0].res, DB_OK);
	assert_int_equal(others[2].res, DB_OK);
	/* "taken" and the holder came first; a and b queued in either order. */
	assert_int_equal(others[0].job.count + others[2].job.count, 3 + 4);
	assert_true(others[0].job.count == 3 || others[0].job.count == 4);
	commit_queue_free(q);
	assert_int_equal(dbtest_query_int(&t, "SELECT count(*) FROM auth_user"), 4);
	assert_int_equal(dbtest_query_int(&t, "SELECT n FROM sqlitefcgi_user_count"), 4);
	metrics_close();
}

static void a_failed_transaction_fails_its_whole_batch(void **state)
{
	static const char *const names[] = { "a", "breaks", "b" };
	struct one others[3] = { { .job = { .force = DB_OK } }, { .job = { .force = DB_ERR } },
				 { .job = { .force = DB_OK } } };
	struct config cfg;
	struct commit_queue *q;

	(void)state;
	q = queue_with_users(&cfg, NULL);
	run_behind_a_holder(q, others, 3, names);
	for (int i = 0; i < 3; i++)
		assert_int_equal(others[i].res, DB_ERR);
	assert_string_equal(others[0].err.step, "in a shared transaction");
	/* Only the holder's batch committed; the queue serves on. */
	assert_int_equal(dbtest_query_int(&t, "SELECT count(*) FROM auth_user"), 1);
	{
		struct user_job job = { .force = DB_OK };
		struct db_failure e;

		snprintf(job.name, sizeof(job.name), "after");
		assert_int_equal(commit_run(q, insert_and_count, &job, &e), DB_OK);
		assert_int_equal(job.count, 2);
	}
	commit_queue_free(q);
	metrics_close();
}

/*
 * Whether name is a committed user, read through a connection of its own
 * (with a busy timeout: a checkpoint may hold the WAL for a moment); no
 * cmocka assertion, which only the main thread may make.
 */
static bool user_committed(const char *name)
{
	sqlite3 *raw = NULL;
	sqlite3_stmt *st = NULL;
	bool found = false;

	if (sqlite3_open(t.path, &raw) == SQLITE_OK &&
	    sqlite3_busy_timeout(raw, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(raw, "SELECT count(*) FROM auth_user WHERE username = ?1",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		found = sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	sqlite3_close(raw);
	return found;
}

/*
 * Each thread, once its write is answered, looks for it through a
 * connection of its own: it must be committed by then.
 */
static void *check_answers(void *arg)
{
	struct submitter *s = arg;

	for (int i = 0; i < 10; i++) {
		struct user_job job = { .force = DB_OK };
		struct db_failure e;

		snprintf(job.name, sizeof(job.name), "seen%d-%d", s->index, i);
		if (commit_run(s->q, insert_and_count, &job, &e) != DB_OK) {
			s->failures++;
			continue;
		}
		if (!user_committed(job.name))
			s->failures++;
	}
	return NULL;
}

static void nothing_is_answered_before_its_commit(void **state)
{
	static struct submitter subs[NTHREADS];
	struct config cfg;
	struct commit_queue *q;

	(void)state;
	q = queue_with_users(&cfg, NULL);
	for (int i = 0; i < NTHREADS; i++) {
		subs[i] = (struct submitter){ .index = i, .q = q };
		assert_int_equal(pthread_create(&subs[i].id, NULL, check_answers, &subs[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(subs[i].id, NULL), 0);
		assert_int_equal(subs[i].failures, 0);
	}
	commit_queue_free(q);
	metrics_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_count_is_exact_under_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(a_taken_name_fails_alone_in_its_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_transaction_fails_its_whole_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(nothing_is_answered_before_its_commit, setup, teardown),
	};

	if (db_global_init() != 0) {
		fprintf(stderr, "db_global_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("commit", tests, NULL, NULL);
}
