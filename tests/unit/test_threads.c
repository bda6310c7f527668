/*
 * Several threads of one process doing at once what serving threads do,
 * each on a connection of its own: open it (the first opens adopt the file
 * served, as a worker's threads do at start), create users (hash, the flock write
 * lock, BEGIN IMMEDIATE, insert, count, COMMIT), read pages, parse JSON
 * bodies, check the file served and count metrics in the process's one
 * slot.  Run plain, under ASan + UBSan, and under ThreadSanitizer (make
 * tsan-test), which reports a data race between them as a failure.
 */
#include "dbtest.h"

#include <pthread.h>

#include "input.h"
#include "metrics.h"
#include "users.h"

#define NTHREADS 4
#define PER_THREAD 25

static const char *const env[] = {
	"HASH_METHOD=sha512crypt", "HASH_COST=1000", "WRITE_LOCK_WAIT=flock", NULL
};

struct worker {
	pthread_t id;
	int index;
	const struct config *cfg;
	int created, read, parsed, failures;
	char err[ERR_LEN + 64];		/* the first failure */
};

static void failed(struct worker *w, const char *what, const char *why)
{
	if (w->failures++ == 0)
		snprintf(w->err, sizeof(w->err), "thread %d: %s: %s", w->index, what, why);
}

static void create_one(struct worker *w, struct db *db)
{
	struct user_input in;
	struct users_created made;
	struct db_failure fail;
	char err[ERR_LEN];

	if (users_random_input(&in) != 0) {
		failed(w, "users_random_input", "random source failed");
		return;
	}
	switch (users_create(db, w->cfg, &in, 1, &made, &fail, err, sizeof(err))) {
	case USERS_OK:
		break;
	case USERS_DB_FAILED:
		failed(w, "users_create", fail.msg);
		return;
	case USERS_INTERNAL:
		failed(w, "users_create", err);
		return;
	}
	w->created++;
	metrics_count_request(0, 200);
}

static void read_one(struct worker *w, struct db *db, struct db_user_row *rows)
{
	long long count;
	int n;

	if (db_users_page(db, 0, 10, rows, &n, &count) != DB_OK || n < 0 || n > 10) {
		failed(w, "db_users_page", db_errmsg(db));
		return;
	}
	w->read++;
	metrics_count_request(1, 200);
}

static void parse_one(struct worker *w)
{
	static const char body[] = "{\"username\": \"threaded\", \"password\": \"pw\"}";
	struct user_input in;
	char err[ERR_LEN];

	input_init(&in);
	if (input_parse_json(&in, body, sizeof(body) - 1, err, sizeof(err)) != INPUT_OK)
		failed(w, "input_parse_json", err);
	else
		w->parsed++;
	input_wipe(&in);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct db_user_row *rows = calloc(DB_PAGE_MAX, sizeof(*rows));
	struct db *db = NULL;
	char err[ERR_LEN];

	if (rows == NULL || db_open(w->cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK) {
		failed(w, "db_open", rows == NULL ? "out of memory" : err);
		free(rows);
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++) {
		if (db_refusal(w->cfg, err, sizeof(err)) != 0)
			failed(w, "db_refusal", err);
		db_clear_error(db);
		create_one(w, db);
		read_one(w, db, rows);
		parse_one(w);
	}
	db_close(db);
	free(rows);
	return NULL;
}

/* The count of one sample in the metrics text, or -1 when it is absent. */
static long long sample(const char *text, const char *name)
{
	const char *at = strstr(text, name);

	return at == NULL ? -1 : atoll(at + strlen(name));
}

static void threads_share_nothing_they_should_not(void **state)
{
	static const char *const routes[] = { "/create_user/", "/users/" };
	static char text[64 * 1024];
	struct worker workers[NTHREADS];
	char metrics_path[200], err[ERR_LEN];
	struct config cfg;
	struct db *db;
	long long users = -1;

	(void)state;
	dbtest_config(&t, &cfg, env);
	/* Not served from here: the workers' first opens adopt the file at once. */
	dbtest_migrate(&cfg);
	snprintf(metrics_path, sizeof(metrics_path), "%s/metrics", t.dir);
	if (metrics_open(metrics_path, err, sizeof(err)) != 0)
		fail_msg("metrics_open: %s", err);
	for (int i = 0; i < NTHREADS; i++) {
		workers[i] = (struct worker){ .index = i, .cfg = &cfg };
		assert_int_equal(pthread_create(&workers[i].id, NULL, work, &workers[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(workers[i].id, NULL), 0);
		if (workers[i].failures != 0)
			fail_msg("%d failures, the first: %s", workers[i].failures, workers[i].err);
		assert_int_equal(workers[i].created, PER_THREAD);
		assert_int_equal(workers[i].read, PER_THREAD);
		assert_int_equal(workers[i].parsed, PER_THREAD);
	}
	if (db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK)
		fail_msg("db_open: %s", err);
	assert_int_equal(db_user_count(db, &users), DB_OK);
	assert_int_equal(users, NTHREADS * PER_THREAD);
	assert_true(metrics_render(text, sizeof(text), routes, 2, -1) > 0);
	assert_int_equal(sample(text, "{route=\"/create_user/\",status=\"200\"} "),
			 NTHREADS * PER_THREAD);
	assert_int_equal(sample(text, "{route=\"/users/\",status=\"200\"} "), NTHREADS * PER_THREAD);
	/* users_create times each hash and each BEGIN. */
	assert_int_equal(sample(text, "sqlite_fcgi_password_hash_seconds_count "),
			 NTHREADS * PER_THREAD);
	assert_int_equal(sample(text, "sqlite_fcgi_write_lock_wait_seconds_count "),
			 NTHREADS * PER_THREAD);
	metrics_close();
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(threads_share_nothing_they_should_not, setup, teardown),
	};

	if (db_global_init() != 0) {
		fprintf(stderr, "db_global_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
