#ifndef SQLITE_FCGI_DBTEST_H
#define SQLITE_FCGI_DBTEST_H

/* Helpers for tests that need a migrated database in a temporary directory. */

#include <sqlite3.h>
#include <time.h>

#include "testutil.h"
#include "db.h"
#include "db_sqlite_conn.h"

struct dbtest {
	char dir[64];
	char path[128];
	char path_env[160];
};

/* The test's database directory: setup() makes it, teardown() removes it. */
static struct dbtest t;

static inline void dbtest_setup(struct dbtest *d)
{
	test_mkdtemp(d->dir, sizeof(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/db.sqlite3", d->dir);
	snprintf(d->path_env, sizeof(d->path_env), "DB_PATH=%s", d->path);
}

/*
 * Loads settings from extra (NULL-terminated, at most 8) plus DB_PATH.
 */
static inline void dbtest_config(struct dbtest *d, struct config *cfg,
				 const char *const *extra)
{
	const char *env[10] = { d->path_env };
	char err[ERR_LEN];
	size_t n = 1;

	for (; extra && *extra && n < 9; extra++)
		env[n++] = *extra;
	env[n] = NULL;
	assert_int_equal(test_config(cfg, env, err, sizeof(err)), 0);
}

/* Migrates the database with cfg's settings (the file is not served). */
static inline void dbtest_migrate(const struct config *cfg)
{
	char err[ERR_LEN];
	struct db *db = NULL;

	assert_int_equal(db_open(cfg, DB_OPEN_MIGRATE, &db, err, sizeof(err)), DB_OK);
	if (db_migrate(db, err, sizeof(err)) != DB_OK)
		fail_msg("db_migrate: %s", err);
	db_close(db);
}

/* Migrates the database with cfg's settings, then opens it for serving. */
static inline struct db *dbtest_open(const struct config *cfg)
{
	char err[ERR_LEN];
	struct db *db = NULL;

	dbtest_migrate(cfg);
	if (db_open(cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK)
		fail_msg("db_open: %s", err);
	return db;
}

/* The first column of sql's first row, read through a connection of its own. */
static inline long long dbtest_query_int(const struct dbtest *d, const char *sql)
{
	sqlite3 *raw;
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_open(d->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(raw);
	return n;
}

/* Runs sql through a connection of its own, as another program would. */
static inline void dbtest_exec(const struct dbtest *d, const char *sql)
{
	sqlite3 *raw;

	assert_int_equal(sqlite3_open(d->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
}

static int setup(void **state)
{
	(void)state;
	dbtest_setup(&t);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmdir(t.dir);
	return 0;
}

static inline double dbtest_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
