#ifndef SQLITE_FCGI_GROUPTEST_H
#define SQLITE_FCGI_GROUPTEST_H

/*
 * Helpers for the tests of group commit (test_commit, test_rows): a pause,
 * and this process's metrics, whose batch-size histogram shows which
 * requests shared a transaction.  Include after dbtest.h.
 */

#include "metrics.h"

static inline void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The value of the sample name (with its labels and a trailing space) in text; -1: none. */
static inline long long sample(const char *text, const char *name)
{
	const char *at = strstr(text, name);

	return at == NULL ? -1 : atoll(at + strlen(name));
}

/* The metrics text of this process (open_metrics first). */
static inline const char *metrics_text(void)
{
	static const char *const routes[] = { "/create_user/" };
	static char text[64 * 1024];

	assert_true(metrics_render(text, sizeof(text), routes, 1, -1) > 0);
	return text;
}

/* Opens the metrics file in the test's directory; metrics_close() after. */
static inline void open_metrics(void)
{
	char path[200], err[ERR_LEN];

	snprintf(path, sizeof(path), "%s/metrics", t.dir);
	if (metrics_open(path, err, sizeof(err)) != 0)
		fail_msg("metrics_open: %s", err);
}

/* How many shared transactions committed so far. */
static inline long long batches(void)
{
	return sample(metrics_text(), "sqlite_fcgi_group_commit_batch_size_count ");
}

/* How many requests those transactions held, all told. */
static inline long long batched_requests(void)
{
	return sample(metrics_text(), "sqlite_fcgi_group_commit_batch_size_sum ");
}

#endif
