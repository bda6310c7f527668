#include "dbtest.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>


/* Opens a database with env's settings and checks what SQLite reports. */
static void assert_pragmas(const char *const *env, const char *journal, int synchronous)
{
	struct config cfg;
	struct db_pragmas p;
	struct db *db;

	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	assert_int_equal(db_sqlite_read_pragmas(db, &p), DB_OK);
	assert_string_equal(p.journal_mode, journal);
	assert_int_equal(p.synchronous, synchronous);
	assert_int_equal(p.busy_timeout_ms, 5000);
	assert_int_equal(p.schema_version, DB_SCHEMA_VERSION);
	db_close(db);
}

static void tuned_pragmas_are_applied(void **state)
{
	(void)state;
	assert_pragmas(NULL, "wal", 2);
}

static void django_default_pragmas_are_applied(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };

	(void)state;
	assert_pragmas(env, "delete", 2);
}

/* The table Django's migrate creates, column for column. */
static void schema_is_djangos_auth_user(void **state)
{
	static const char *const columns[] = {
		"id", "password", "last_login", "is_superuser", "username", "last_name",
		"email", "is_staff", "is_active", "date_joined", "first_name",
	};
	struct config cfg;
	sqlite3 *raw;
	sqlite3_stmt *st;
	int i = 0;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db_close(dbtest_open(&cfg));
	db_close(dbtest_open(&cfg));	/* migrating twice is harmless */
	assert_int_equal(sqlite3_open(t.path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT name FROM pragma_table_info('auth_user') ORDER BY cid", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(i < 11);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), columns[i++]);
	}
	assert_int_equal(i, 11);
	sqlite3_finalize(st);
	/* username is UNIQUE: an index backs the constraint. */
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT \"unique\" FROM pragma_index_list('auth_user')", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(raw);
}

static long long raw_int(sqlite3 *raw, const char *sql)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A version 1 file with users is upgraded, and the count kept by triggers. */
static void the_user_count_survives_migration_inserts_and_deletes(void **state)
{
	struct config cfg;
	struct db *db;
	sqlite3 *raw;
	long long n = -1;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	assert_int_equal(sqlite3_open(t.path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
		"CREATE TABLE auth_user (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,"
		" password varchar(128) NOT NULL, last_login datetime NULL, is_superuser bool NOT NULL,"
		" username varchar(150) NOT NULL UNIQUE, last_name varchar(150) NOT NULL,"
		" email varchar(254) NOT NULL, is_staff bool NOT NULL, is_active bool NOT NULL,"
		" date_joined datetime NOT NULL, first_name varchar(150) NOT NULL);"
		"INSERT INTO auth_user VALUES (NULL, 'x', NULL, 0, 'a', '', '', 0, 1, '', ''),"
		" (NULL, 'x', NULL, 0, 'b', '', '', 0, 1, '', '');"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	db = dbtest_open(&cfg);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(db_user_insert(db, "c", "", "x"), DB_OK);
	/* Rows written by another program (Django) are counted too. */
	assert_int_equal(sqlite3_exec(raw, "DELETE FROM auth_user WHERE username IN ('a', 'b')", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(n, raw_int(raw, "SELECT COUNT(*) FROM auth_user"));
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 2);
	sqlite3_close(raw);
	db_close(db);
}

static void serving_needs_a_migrated_file(void **state)
{
	struct config cfg;
	struct db *db = NULL;
	char err[ERR_LEN];

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	assert_int_equal(db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)), DB_ERR);
	assert_null(db);
	assert_non_null(strstr(err, "run 'sqlite-fcgi migrate' first"));
	/* An empty file that was never migrated is refused as well. */
	assert_int_equal(db_open(&cfg, DB_OPEN_MIGRATE, &db, err, sizeof(err)), DB_OK);
	db_close(db);
	db = NULL;
	assert_int_equal(db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)), DB_ERR);
	assert_non_null(strstr(err, "schema version 0, expected 2"));
}

/* A child process holds the write lock for hold_ms, then commits. */
static pid_t hold_write_lock(const struct config *cfg, int hold_ms)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[ERR_LEN];
		struct db *db = NULL;

		if (db_open(cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK ||
		    db_begin(db) != DB_OK || write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(db_commit(db) == DB_OK ? 0 : 1);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void begin_immediate_waits_with_a_busy_timeout(void **state)
{
	struct config cfg;
	struct db *db;
	double start, waited;
	pid_t holder;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	holder = hold_write_lock(&cfg, 300);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_OK);
	waited = dbtest_now() - start;
	assert_true(waited > 0.15);	/* it waited for the holder */
	assert_true(waited < 4.0);	/* and got the lock soon after */
	assert_int_equal(db_commit(db), DB_OK);
	reap(holder);
	db_close(db);
}

static void begin_immediate_fails_without_a_busy_timeout(void **state)
{
	const char *env[] = { "SQLITE_BUSY_TIMEOUT_MS=0", NULL };
	struct config cfg;
	struct db *db;
	double start;
	pid_t holder;

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	holder = hold_write_lock(&cfg, 300);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_BUSY);
	assert_true(dbtest_now() - start < 0.15);
	assert_int_equal(db_errcode(db), SQLITE_BUSY);
	reap(holder);
	db_close(db);
}

/*
 * The seed's failure: a deferred transaction that has read cannot wait for
 * the write lock, whatever the busy timeout.  Runs one profile's journal.
 */
static void deferred_read_then_write(const char *journal, int want_code)
{
	const char *env_a[] = { "SQLITE_TXN=deferred", journal, NULL };
	struct config cfg_a, cfg_b;
	struct db *a, *b;
	double start;
	int nread;

	dbtest_config(&t, &cfg_a, env_a);
	dbtest_config(&t, &cfg_b, env_a + 1);
	a = dbtest_open(&cfg_a);
	b = dbtest_open(&cfg_b);
	assert_int_equal(db_begin(a), DB_OK);
	assert_int_equal(db_users_read_recent(a, &nread), DB_OK);
	/* Another connection writes meanwhile (and, in WAL mode, commits). */
	assert_int_equal(db_begin(b), DB_OK);
	assert_int_equal(db_user_insert(b, "other", "", "x"), DB_OK);
	if (want_code == SQLITE_BUSY_SNAPSHOT)
		assert_int_equal(db_commit(b), DB_OK);
	start = dbtest_now();
	assert_int_equal(db_user_insert(a, "mine", "", "x"), DB_BUSY);
	assert_true(dbtest_now() - start < 1.0);	/* no 5 s busy wait */
	assert_int_equal(db_errcode(a), want_code);
	assert_string_equal(db_errname(a), want_code == SQLITE_BUSY ? "SQLITE_BUSY" : "SQLITE_BUSY_SNAPSHOT");
	db_rollback(a);
	if (want_code != SQLITE_BUSY_SNAPSHOT)
		assert_int_equal(db_commit(b), DB_OK);
	db_close(a);
	db_close(b);
}

static void deferred_write_after_read_is_busy_in_wal(void **state)
{
	(void)state;
	deferred_read_then_write("SQLITE_JOURNAL_MODE=wal", SQLITE_BUSY_SNAPSHOT);
}

static void deferred_write_after_read_is_busy_in_rollback_journal(void **state)
{
	(void)state;
	deferred_read_then_write("SQLITE_JOURNAL_MODE=delete", SQLITE_BUSY);
}

static void flock_writers_queue_for_each_other(void **state)
{
	const char *env[] = { "WRITE_LOCK_WAIT=flock", NULL };
	struct config cfg;
	struct db *db;
	double start, waited;
	pid_t holder;

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	holder = hold_write_lock(&cfg, 300);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_OK);
	waited = dbtest_now() - start;
	assert_true(waited > 0.15);
	/* The kernel hands the lock over at once: no busy-handler sleep steps. */
	assert_true(waited < 1.0);
	assert_int_equal(db_commit(db), DB_OK);
	reap(holder);
	db_close(db);
}

static void flock_wait_gives_up_after_the_busy_timeout(void **state)
{
	const char *env[] = { "WRITE_LOCK_WAIT=flock", "SQLITE_BUSY_TIMEOUT_MS=100", NULL };
	const char *env_holder[] = { "WRITE_LOCK_WAIT=flock", NULL };
	struct config cfg, cfg_holder;
	struct db *db;
	double start, waited;
	pid_t holder;

	(void)state;
	dbtest_config(&t, &cfg, env);
	dbtest_config(&t, &cfg_holder, env_holder);
	db = dbtest_open(&cfg);
	holder = hold_write_lock(&cfg_holder, 600);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_BUSY);
	waited = dbtest_now() - start;
	assert_true(waited >= 0.09 && waited < 0.5);
	assert_string_equal(db_errmsg(db), "timed out waiting for the write lock file");
	reap(holder);
	/* Once free, the same connection writes again. */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	db_close(db);
}

static void a_deleted_file_is_noticed(void **state)
{
	struct config cfg;
	struct db *db;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_int_equal(db_ping(db), DB_OK);
	assert_false(db_needs_reopen(db));
	assert_int_equal(unlink(t.path), 0);
	assert_int_equal(db_ping(db), DB_ERR);
	assert_int_equal(db_errcode(db), SQLITE_READONLY_DBMOVED);
	assert_true(db_needs_reopen(db));
	/* A transaction on the deleted file is refused, not silently lost. */
	db_clear_error(db);
	assert_int_equal(db_begin(db), DB_ERR);
	assert_true(db_needs_reopen(db));
	db_clear_error(db);
	assert_false(db_needs_reopen(db));
	db_close(db);
}

static void the_allocator_is_set_before_sqlite_starts(void **state)
{
	struct config cfg;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db_close(dbtest_open(&cfg));
	/* SQLite is initialised now: a second set-up is refused, not half-applied. */
	assert_int_equal(db_global_init(), -1);
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	fclose(f);
	return n;
}

/*
 * A reader that keeps an old snapshot stops checkpoints, and the WAL grows;
 * once it is gone, the next commit empties the WAL (TRUNCATE), where
 * SQLite's own autocheckpoint would leave the file at its largest.
 */
static void a_long_wal_is_truncated_after_a_commit(void **state)
{
	struct config cfg;
	struct db *db;
	sqlite3 *reader;
	char wal[160], name[32];

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	snprintf(wal, sizeof(wal), "%s-wal", t.path);
	assert_int_equal(sqlite3_open(t.path, &reader), SQLITE_OK);
	assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM auth_user;", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(db_begin(db), DB_OK);
		assert_int_equal(db_user_insert(db, name, "", "x"), DB_OK);
		assert_int_equal(db_commit(db), DB_OK);
	}
	assert_true(file_size(wal) > 4096L * 4096);
	assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	sleep(1);	/* a TRUNCATE is tried at most once a second */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_user_insert(db, "last", "", "x"), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(file_size(wal), 0);
	db_close(db);
}

static void insert_count_and_unique_username(void **state)
{
	struct config cfg;
	struct db *db;
	long long n = -1;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_int_equal(db_user_insert(db, "ann", "ann@example.com", "$y$x"), DB_OK);
	assert_int_equal(db_user_insert(db, "ann", "", "$y$x"), DB_CONSTRAINT);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 1);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tuned_pragmas_are_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(django_default_pragmas_are_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(schema_is_djangos_auth_user, setup, teardown),
		cmocka_unit_test_setup_teardown(the_user_count_survives_migration_inserts_and_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(serving_needs_a_migrated_file, setup, teardown),
		cmocka_unit_test_setup_teardown(begin_immediate_waits_with_a_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(begin_immediate_fails_without_a_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(deferred_write_after_read_is_busy_in_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(deferred_write_after_read_is_busy_in_rollback_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_writers_queue_for_each_other, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_wait_gives_up_after_the_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(a_deleted_file_is_noticed, setup, teardown),
		cmocka_unit_test_setup_teardown(the_allocator_is_set_before_sqlite_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(a_long_wal_is_truncated_after_a_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(insert_count_and_unique_username, setup, teardown),
	};

	/* Every test below runs on the wiping allocator, as the service does. */
	if (db_global_init() != 0) {
		fprintf(stderr, "db_global_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
