#include "dbtest.h"

#include <sqlite3.h>

#include "password.h"
#include "users.h"

/* A cheap hash keeps these tests fast; the hashing itself is tested in test_password. */
static const char cheap_method[] = "HASH_METHOD=sha512crypt";
static const char cheap_cost[] = "HASH_COST=1000";


static long long count_users(void)
{
	return dbtest_query_int(&t, "SELECT COUNT(*) FROM auth_user");
}

/* Copies the stored hash and email of username. */
static void stored_user(const char *username, char *hash, char *email)
{
	sqlite3 *raw;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(t.path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT password, email, is_active, date_joined FROM auth_user WHERE username = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	strcpy(hash, (const char *)sqlite3_column_text(st, 0));
	strcpy(email, (const char *)sqlite3_column_text(st, 1));
	assert_int_equal(sqlite3_column_int(st, 2), 1);
	assert_int_equal(sqlite3_column_bytes(st, 3), 23);	/* YYYY-MM-DD HH:MM:SS.SSS */
	sqlite3_finalize(st);
	sqlite3_close(raw);
}

static void random_users_are_created_and_counted(const char *const *env)
{
	struct config cfg;
	struct db *db;
	struct user_input in;
	struct users_created made;
	struct db_failure fail;
	char err[ERR_LEN], password[INPUT_PASSWORD_MAX + 1], hash[PW_HASH_MAX], email[300], want_email[300];

	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(users_random_input(&in), 0);
		assert_int_equal(input_validate(&in, err, sizeof(err)), 0);
		strcpy(password, in.password);
		assert_int_equal(users_create(db, &cfg, &in, 1, &made, &fail, err, sizeof(err)), USERS_OK);
		assert_int_equal(made.num_users, i);
		assert_int_equal(strlen(made.username), 10);
		assert_int_equal(strspn(made.username, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 10);
		/* Wiped, every byte of the buffer, not only the first. */
		for (size_t b = 0; b < sizeof(in.password); b++)
			assert_int_equal(in.password[b], '\0');
		stored_user(made.username, hash, email);
		assert_true(password_verify(password, hash));
		snprintf(want_email, sizeof(want_email), "%s@example.com", made.username);
		assert_string_equal(email, want_email);
	}
	assert_int_equal(count_users(), 3);
	db_close(db);
}

static void tuned_creates_users(void **state)
{
	const char *env[] = { cheap_method, cheap_cost, NULL };

	(void)state;
	random_users_are_created_and_counted(env);
}

static void django_default_creates_users(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", cheap_method, cheap_cost, NULL };

	(void)state;
	random_users_are_created_and_counted(env);
}

static void a_taken_username_writes_nothing(void **state)
{
	const char *env[] = { cheap_method, cheap_cost, NULL };
	struct config cfg;
	struct db *db;
	struct user_input in;
	struct users_created made;
	struct db_failure fail;
	char err[ERR_LEN];

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	for (int i = 0; i < 2; i++) {
		input_init(&in);
		assert_int_equal(input_parse_form(&in, "username=ann&password=pw", 24, err, sizeof(err)), 0);
		assert_int_equal(users_create(db, &cfg, &in, 0, &made, &fail, err, sizeof(err)),
				 i == 0 ? USERS_OK : USERS_DB_FAILED);
	}
	assert_int_equal(fail.res, DB_CONSTRAINT);
	assert_string_equal(fail.step, "insert user");
	assert_int_equal(count_users(), 1);
	db_close(db);
}

/* Another process's connection holds the write lock; no busy timeout. */
static void busy_database_writes_nothing(void **state)
{
	const char *env[] = { cheap_method, cheap_cost, "SQLITE_BUSY_TIMEOUT_MS=0", NULL };
	struct config cfg;
	struct db *db;
	struct user_input in;
	struct users_created made;
	struct db_failure fail;
	char err[ERR_LEN];
	sqlite3 *other;

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	assert_int_equal(sqlite3_open(t.path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(users_random_input(&in), 0);
	assert_int_equal(users_create(db, &cfg, &in, 1, &made, &fail, err, sizeof(err)),
			 USERS_DB_FAILED);
	assert_int_equal(fail.res, DB_BUSY);
	assert_string_equal(fail.step, "begin");
	assert_string_equal(fail.msg, "database is locked");
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_users(), 0);
	/* Once the lock is free, the same connection creates users again. */
	assert_int_equal(users_random_input(&in), 0);
	assert_int_equal(users_create(db, &cfg, &in, 1, &made, &fail, err, sizeof(err)), USERS_OK);
	assert_int_equal(made.num_users, 1);
	sqlite3_close(other);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tuned_creates_users, setup, teardown),
		cmocka_unit_test_setup_teardown(django_default_creates_users, setup, teardown),
		cmocka_unit_test_setup_teardown(a_taken_username_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(busy_database_writes_nothing, setup, teardown),
	};

	return cmocka_run_group_tests_name("users", tests, NULL, NULL);
}
