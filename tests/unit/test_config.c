#include "testutil.h"

static void defaults_are_the_tuned_profile(void **state)
{
	const char *env[] = { NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_string_equal(cfg.db_path, "var/db.sqlite3");
	assert_int_equal(cfg.profile, PROFILE_TUNED);
	assert_int_equal(cfg.journal, JOURNAL_WAL);
	assert_int_equal(cfg.sync, SYNC_NORMAL);
	assert_int_equal(cfg.busy_timeout_ms, 5000);
	assert_int_equal(cfg.txn, TXN_IMMEDIATE);
	assert_int_equal(cfg.hash_when, HASH_BEFORE_BEGIN);
	assert_int_equal(cfg.lock_wait, LOCK_WAIT_FLOCK);
	assert_int_equal(cfg.hash_method, HASH_YESCRYPT);
	assert_int_equal(cfg.hash_cost, 0);
	assert_int_equal(cfg.workers, sysconf(_SC_NPROCESSORS_ONLN) + 1);
	assert_int_equal(cfg.port, 8000);
}

static void django_default_profile(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal, JOURNAL_DELETE);
	assert_int_equal(cfg.sync, SYNC_FULL);
	assert_int_equal(cfg.busy_timeout_ms, 5000);
	assert_int_equal(cfg.txn, TXN_DEFERRED);
	assert_int_equal(cfg.hash_when, HASH_INSIDE_TXN);
	assert_int_equal(cfg.lock_wait, LOCK_WAIT_SQLITE);
}

static void each_piece_overrides_the_profile(void **state)
{
	const char *env[] = {
		"SQLITE_PROFILE=django-default", "SQLITE_JOURNAL_MODE=wal",
		"SQLITE_SYNCHRONOUS=extra", "SQLITE_BUSY_TIMEOUT_MS=0",
		"SQLITE_TXN=immediate", "HASH_WHEN=before-begin",
		"HASH_METHOD=sha512crypt", "HASH_COST=1000", "WORKERS=7",
		"PORT=18080", "DB_PATH=/tmp/x.db", NULL
	};
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_int_equal(cfg.profile, PROFILE_DJANGO_DEFAULT);
	assert_int_equal(cfg.journal, JOURNAL_WAL);
	assert_int_equal(cfg.sync, SYNC_EXTRA);
	assert_int_equal(cfg.busy_timeout_ms, 0);
	assert_int_equal(cfg.txn, TXN_IMMEDIATE);
	assert_int_equal(cfg.hash_when, HASH_BEFORE_BEGIN);
	assert_int_equal(cfg.hash_method, HASH_SHA512CRYPT);
	assert_int_equal(cfg.hash_cost, 1000);
	assert_int_equal(cfg.workers, 7);
	assert_int_equal(cfg.port, 18080);
	assert_string_equal(cfg.db_path, "/tmp/x.db");
}

static void web_concurrency_is_read_and_workers_wins(void **state)
{
	const char *env1[] = { "WEB_CONCURRENCY=5", NULL };
	const char *env2[] = { "WEB_CONCURRENCY=5", "WORKERS=2", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env1, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 5);
	assert_int_equal(test_config(&cfg, env2, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 2);
}

static void empty_values_mean_default(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=", "WORKERS=", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_int_equal(cfg.profile, PROFILE_TUNED);
}

/* Each bad value is refused with a message naming the variable and value. */
static void bad_values_are_refused_by_name(void **state)
{
	static const struct { const char *env; const char *message; } cases[] = {
		{ "SQLITE_PROFILE=bogus", "SQLITE_PROFILE=bogus: must be one of tuned, django-default" },
		{ "SQLITE_JOURNAL_MODE=memory", "SQLITE_JOURNAL_MODE=memory: must be one of delete, truncate, persist, wal" },
		{ "SQLITE_SYNCHRONOUS=2", "SQLITE_SYNCHRONOUS=2: must be one of off, normal, full, extra" },
		{ "SQLITE_TXN=exclusive", "SQLITE_TXN=exclusive: must be one of deferred, immediate" },
		{ "HASH_WHEN=never", "HASH_WHEN=never: must be one of before-begin, inside-transaction" },
		{ "HASH_METHOD=md5", "HASH_METHOD=md5: must be one of yescrypt, gost-yescrypt, scrypt, bcrypt, sha512crypt, sha256crypt" },
		{ "SQLITE_BUSY_TIMEOUT_MS=-1", "SQLITE_BUSY_TIMEOUT_MS=-1: must be a whole number from 0 to 600000" },
		{ "SQLITE_BUSY_TIMEOUT_MS=5s", "SQLITE_BUSY_TIMEOUT_MS=5s: must be a whole number from 0 to 600000" },
		{ "WORKERS=0", "WORKERS=0: must be a whole number from 1 to 256" },
		{ "WORKERS=999", "WORKERS=999: must be a whole number from 1 to 256" },
		{ "WEB_CONCURRENCY=many", "WEB_CONCURRENCY=many: must be a whole number from 1 to 256" },
		{ "PORT=65536", "PORT=65536: must be a whole number from 1 to 65535" },
		{ "HASH_COST=99999999999999999999", "HASH_COST=99999999999999999999: must be a whole number from 0 to 999999999" },
	};
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = { cases[i].env, NULL };

		err[0] = '\0';
		assert_int_equal(test_config(&cfg, env, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].message);
	}
}

static void config_print_names_every_setting(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN], out[2048];
	FILE *f = fmemopen(out, sizeof(out), "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	config_print(&cfg, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(out, "SQLITE_PROFILE=django-default\n"));
	assert_non_null(strstr(out, "SQLITE_JOURNAL_MODE=delete\n"));
	assert_non_null(strstr(out, "SQLITE_SYNCHRONOUS=full\n"));
	assert_non_null(strstr(out, "SQLITE_TXN=deferred\n"));
	assert_non_null(strstr(out, "HASH_WHEN=inside-transaction\n"));
}

static void database_url_picks_the_engine(void **state)
{
	const char *pg[] = { "DATABASE_URL=postgresql://u:pw@db.example/app", NULL };
	const char *pg2[] = { "DATABASE_URL=postgres://u@/app?host=/run/postgresql", NULL };
	const char *sqlite_rel[] = { "DATABASE_URL=sqlite:///var/x.sqlite3", "DB_PATH=/ignored", NULL };
	const char *sqlite_abs[] = { "DATABASE_URL=sqlite:////srv/x.sqlite3", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, pg, err, sizeof(err)), 0);
	assert_int_equal(cfg.engine, ENGINE_POSTGRES);
	assert_string_equal(cfg.database_url, "postgresql://u:pw@db.example/app");
	assert_int_equal(test_config(&cfg, pg2, err, sizeof(err)), 0);
	assert_int_equal(cfg.engine, ENGINE_POSTGRES);
	assert_int_equal(test_config(&cfg, sqlite_rel, err, sizeof(err)), 0);
	assert_int_equal(cfg.engine, ENGINE_SQLITE);
	assert_string_equal(cfg.db_path, "var/x.sqlite3");
	assert_string_equal(cfg.metrics_path, "var/x.sqlite3-metrics");
	assert_int_equal(test_config(&cfg, sqlite_abs, err, sizeof(err)), 0);
	assert_string_equal(cfg.db_path, "/srv/x.sqlite3");
	assert_string_equal(cfg.database_url, "");
}

static void database_url_refused_without_echoing_it(void **state)
{
	const char *mysql[] = { "DATABASE_URL=mysql://u:hunter2@db/app", NULL };
	const char *empty_path[] = { "DATABASE_URL=sqlite:///", NULL };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, mysql, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DATABASE_URL"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(test_config(&cfg, empty_path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DATABASE_URL"));
}

static void mask_url_hides_every_password(void **state)
{
	static const struct { const char *url, *masked; } cases[] = {
		{ "postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db" },
		{ "postgres://u@h/db", "postgres://u@h/db" },
		{ "postgres://h/db", "postgres://h/db" },
		/* unencoded '@' and '/' in the password: hidden whole */
		{ "postgres://u:p@ss/w@h/db", "postgres://u:***@h/db" },
		{ "postgresql:///db?user=u&password=pw&sslmode=require",
		  "postgresql:///db?user=u&password=***&sslmode=require" },
		{ "postgres://u:a@h/db?password=b", "postgres://u:***@h/db?password=***" },
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_mask_url(cases[i].url, out, sizeof(out));
		assert_string_equal(out, cases[i].masked);
	}
	config_mask_url("postgres://u:secretsecret@h/db", out, 12);
	assert_null(strstr(out, "secret"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_tuned_profile),
		cmocka_unit_test(django_default_profile),
		cmocka_unit_test(each_piece_overrides_the_profile),
		cmocka_unit_test(web_concurrency_is_read_and_workers_wins),
		cmocka_unit_test(empty_values_mean_default),
		cmocka_unit_test(bad_values_are_refused_by_name),
		cmocka_unit_test(config_print_names_every_setting),
		cmocka_unit_test(database_url_picks_the_engine),
		cmocka_unit_test(database_url_refused_without_echoing_it),
		cmocka_unit_test(mask_url_hides_every_password),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
