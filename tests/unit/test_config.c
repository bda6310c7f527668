#include "testutil.h"

#include "db.h"

static void defaults_are_the_tuned_profile(void **state)
{
	const char *env[] = { NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_string_equal(cfg.db_path, "var/db.sqlite3");
	assert_int_equal(cfg.profile, PROFILE_TUNED);
	assert_int_equal(cfg.journal, JOURNAL_WAL);
	assert_int_equal(cfg.sync, SYNC_FULL);
	assert_int_equal(cfg.checkpoints, CHECKPOINTS_APP);
	assert_int_equal(cfg.busy_timeout_ms, 5000);
	/* Above statement_timeout (twice the busy timeout), by 5 s. */
	assert_int_equal(cfg.db_deadline_ms, 15000);
	assert_int_equal(cfg.txn, TXN_IMMEDIATE);
	assert_int_equal(cfg.hash_when, HASH_BEFORE_BEGIN);
	assert_int_equal(cfg.lock_wait, LOCK_WAIT_FLOCK);
	assert_int_equal(cfg.hash_method, HASH_YESCRYPT);
	assert_int_equal(cfg.hash_cost, 0);
	assert_int_equal(cfg.workers, sysconf(_SC_NPROCESSORS_ONLN) + 1);
	assert_int_equal(cfg.worker_threads, 16);
	assert_int_equal(cfg.group_commit, GROUP_COMMIT_ON);
	assert_int_equal(cfg.group_commit_max, 64);
	assert_int_equal(cfg.port, 8000);
	assert_string_equal(cfg.metrics_path, "var/db.sqlite3-metrics");
	assert_string_equal(cfg.metrics_allow, "127.0.0.0/8,::1");
	assert_int_equal(cfg.multiwatch_retries, 10);
	assert_int_equal(cfg.multiwatch_timeout_ms, 1000);
	assert_int_equal(cfg.pool_timeout_s, 30);
}

static void django_default_profile(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal, JOURNAL_DELETE);
	assert_int_equal(cfg.sync, SYNC_FULL);
	assert_int_equal(cfg.busy_timeout_ms, 5000);
	assert_int_equal(cfg.txn, TXN_DEFERRED);
	assert_int_equal(cfg.hash_when, HASH_INSIDE_TXN);
	assert_int_equal(cfg.lock_wait, LOCK_WAIT_SQLITE);
	/* One request per transaction on one thread: the seed's failure, as it was. */
	assert_int_equal(cfg.worker_threads, 1);
	assert_int_equal(cfg.group_commit, GROUP_COMMIT_OFF);
}

/*
 * Group commit groups IMMEDIATE transactions that hold no hash: its
 * default is off when the settings ask for another transaction, and on is
 * then refused, naming why.
 */
static void group_commit_follows_the_transaction(void **state)
{
	const char *deferred[] = { "SQLITE_TXN=deferred", NULL };
	const char *inside[] = { "HASH_WHEN=inside-transaction", NULL };
	const char *forced[] = { "SQLITE_TXN=deferred", "GROUP_COMMIT=on", NULL };
	const char *django_on[] = { "SQLITE_PROFILE=django-default", "SQLITE_TXN=immediate",
				    "HASH_WHEN=before-begin", "GROUP_COMMIT=on", NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, deferred, err, sizeof(err)), 0);
	assert_int_equal(cfg.group_commit, GROUP_COMMIT_OFF);
	assert_int_equal(test_config(&cfg, inside, err, sizeof(err)), 0);
	assert_int_equal(cfg.group_commit, GROUP_COMMIT_OFF);
	assert_int_equal(test_config(&cfg, forced, err, sizeof(err)), -1);
	assert_string_equal(err, "GROUP_COMMIT=on: needs SQLITE_TXN=immediate and"
			    " HASH_WHEN=before-begin (SQLITE_TXN=deferred, HASH_WHEN=before-begin):"
			    " a shared transaction begins IMMEDIATE and holds no hash; set"
			    " GROUP_COMMIT=off");
	assert_int_equal(test_config(&cfg, django_on, err, sizeof(err)), 0);
	assert_int_equal(cfg.group_commit, GROUP_COMMIT_ON);
}

/* Threads a worker: 16 on SQLite, 8 on PostgreSQL, 1 for django-default. */
static void worker_threads_follow_the_engine(void **state)
{
	const char *pg[] = { "DATABASE_URL=postgres://u@h/d", NULL };
	const char *django_pg[] = { "SQLITE_PROFILE=django-default",
				    "DATABASE_URL=postgres://u@h/d", NULL };
	const char *set[] = { "DATABASE_URL=postgres://u@h/d", "WORKER_THREADS=3", NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, pg, err, sizeof(err)), 0);
	assert_int_equal(cfg.worker_threads, 8);
	assert_int_equal(test_config(&cfg, django_pg, err, sizeof(err)), 0);
	assert_int_equal(cfg.worker_threads, 1);
	assert_int_equal(test_config(&cfg, set, err, sizeof(err)), 0);
	assert_int_equal(cfg.worker_threads, 3);
}

static void each_piece_overrides_the_profile(void **state)
{
	const char *env[] = {
		"SQLITE_PROFILE=django-default", "SQLITE_JOURNAL_MODE=wal",
		"SQLITE_SYNCHRONOUS=extra", "SQLITE_BUSY_TIMEOUT_MS=0",
		"SQLITE_TXN=immediate", "HASH_WHEN=before-begin",
		"HASH_METHOD=sha512crypt", "HASH_COST=1000", "WORKERS=7",
		"WORKER_THREADS=64", "PORT=18080", "DB_PATH=/tmp/x.db", NULL
	};
	struct config cfg;
	char err[ERR_LEN];

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
	assert_int_equal(cfg.worker_threads, 64);
	assert_int_equal(cfg.port, 18080);
	assert_string_equal(cfg.db_path, "/tmp/x.db");
}

static void web_concurrency_is_read_and_workers_wins(void **state)
{
	const char *env1[] = { "WEB_CONCURRENCY=5", NULL };
	const char *env2[] = { "WEB_CONCURRENCY=5", "WORKERS=2", NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, env1, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 5);
	assert_int_equal(test_config(&cfg, env2, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 2);
}

/* Every variable config --names lists, one a line, in names (NUL-separated). */
static size_t list_names(char *names, size_t len, const char **each, size_t max)
{
	FILE *f = fmemopen(names, len, "w");
	size_t n = 0;

	assert_non_null(f);
	config_list(CONFIG_LIST_NAMES, f);
	assert_int_equal(fclose(f), 0);
	for (char *line = strtok(names, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		assert_true(n < max);
		each[n++] = line;
	}
	return n;
}

/* Each variable set empty gives the same settings as unset, in both profiles. */
static void empty_values_mean_default(void **state)
{
	static const char *profiles[] = { NULL, "SQLITE_PROFILE=django-default" };
	char names[1024], setting[64], err[ERR_LEN];
	const char *each[64];
	size_t n = list_names(names, sizeof(names), each, 64);
	struct config want, got;

	(void)state;
	assert_true(n >= 17);
	for (size_t p = 0; p < 2; p++) {
		const char *base[] = { profiles[p], NULL };

		assert_int_equal(test_config(&want, base, err, sizeof(err)), 0);
		for (size_t i = 0; i < n; i++) {
			const char *env[] = { setting, profiles[p], NULL };

			if (p == 1 && strcmp(each[i], "SQLITE_PROFILE") == 0)
				continue;	/* would unset the profile under test */
			snprintf(setting, sizeof(setting), "%s=", each[i]);
			assert_int_equal(test_config(&got, env, err, sizeof(err)), 0);
			assert_memory_equal(&got, &want, sizeof(got));
		}
	}
}

/* Each bad value is refused with a message naming the variable and value. */
static void bad_values_are_refused_by_name(void **state)
{
	static const struct { const char *env; const char *message; } cases[] = {
		{ "SQLITE_PROFILE=bogus", "SQLITE_PROFILE=bogus: must be one of tuned, django-default" },
		{ "SQLITE_JOURNAL_MODE=memory", "SQLITE_JOURNAL_MODE=memory: must be one of delete, truncate, persist, wal" },
		{ "SQLITE_SYNCHRONOUS=2", "SQLITE_SYNCHRONOUS=2: must be one of off, normal, full, extra" },
		{ "SQLITE_CHECKPOINTS=litestream", "SQLITE_CHECKPOINTS=litestream: must be one of app, external" },
		{ "SQLITE_TXN=exclusive", "SQLITE_TXN=exclusive: must be one of deferred, immediate" },
		{ "HASH_WHEN=never", "HASH_WHEN=never: must be one of before-begin, inside-transaction" },
		{ "HASH_METHOD=md5", "HASH_METHOD=md5: must be one of yescrypt, gost-yescrypt, scrypt, bcrypt, sha512crypt, sha256crypt, pbkdf2_sha256, django-bcrypt" },
		{ "SQLITE_BUSY_TIMEOUT_MS=-1", "SQLITE_BUSY_TIMEOUT_MS=-1: must be a whole number from 0 to 600000" },
		{ "SQLITE_BUSY_TIMEOUT_MS=5s", "SQLITE_BUSY_TIMEOUT_MS=5s: must be a whole number from 0 to 600000" },
		{ "WORKERS=0", "WORKERS=0: must be a whole number from 1 to 256" },
		{ "WORKERS=999", "WORKERS=999: must be a whole number from 1 to 256" },
		{ "WORKER_THREADS=0", "WORKER_THREADS=0: must be a whole number from 1 to 64" },
		{ "WORKER_THREADS=65", "WORKER_THREADS=65: must be a whole number from 1 to 64" },
		{ "GROUP_COMMIT=yes", "GROUP_COMMIT=yes: must be one of off, on" },
		{ "GROUP_COMMIT_MAX=0", "GROUP_COMMIT_MAX=0: must be a whole number from 1 to 1024" },
		{ "GROUP_COMMIT_MAX=1025", "GROUP_COMMIT_MAX=1025: must be a whole number from 1 to 1024" },
		{ "WEB_CONCURRENCY=many", "WEB_CONCURRENCY=many: must be a whole number from 1 to 256" },
		{ "PORT=65536", "PORT=65536: must be a whole number from 1 to 65535" },
		{ "HASH_COST=99999999999999999999", "HASH_COST=99999999999999999999: must be a whole number from 0 to 999999999" },
		{ "WRITE_LOCK_WAIT=spin", "WRITE_LOCK_WAIT=spin: must be one of sqlite, flock" },
		{ "MULTIWATCH_RETRIES=-1", "MULTIWATCH_RETRIES=-1: must be a whole number from 0 to 1000000" },
		{ "MULTIWATCH_TIMEOUT_MS=0", "MULTIWATCH_TIMEOUT_MS=0: must be a whole number from 1 to 3600000" },
		{ "POOL_TIMEOUT=30s", "POOL_TIMEOUT=30s: must be a whole number from 1 to 86400" },
		{ "PORT=0x50", "PORT=0x50: must be a whole number from 1 to 65535" },
		{ "FCGI_LISTEN=127.0.0.2", "FCGI_LISTEN=127.0.0.2: must be ADDR:PORT" },
		{ "FCGI_LISTEN=unix:/s", "FCGI_LISTEN=unix:/s: must be ADDR:PORT" },
		{ "FCGI_LISTEN=h:65536", "FCGI_LISTEN=h:65536: must be ADDR:PORT" },
		{ "APP_UPSTREAMS=h:1,", "APP_UPSTREAMS=h:1,: must be HOST:PORT, unix:/PATH or /PATH, comma-separated" },
		{ "APP_UPSTREAMS=h:1,,g:2", "APP_UPSTREAMS=h:1,,g:2: must be HOST:PORT, unix:/PATH or /PATH, comma-separated" },
		{ "APP_UPSTREAMS=h 1:2", "APP_UPSTREAMS=h 1:2: must be HOST:PORT, unix:/PATH or /PATH, comma-separated" },
#define ALLOW_RULE ": must be IPv4 or IPv6 addresses, each with an optional /BITS (127.0.0.0/8, ::1), comma-separated, at most 64"
		{ "METRICS_ALLOW=all", "METRICS_ALLOW=all" ALLOW_RULE },
		{ "METRICS_ALLOW=10.0.0.0/33", "METRICS_ALLOW=10.0.0.0/33" ALLOW_RULE },
		{ "METRICS_ALLOW=::1/129", "METRICS_ALLOW=::1/129" ALLOW_RULE },
		{ "METRICS_ALLOW=10.0.0.1/", "METRICS_ALLOW=10.0.0.1/" ALLOW_RULE },
		{ "METRICS_ALLOW=10.0.0.1,", "METRICS_ALLOW=10.0.0.1," ALLOW_RULE },
		{ "METRICS_ALLOW=10.0.0.1;allow", "METRICS_ALLOW=10.0.0.1;allow" ALLOW_RULE },
		{ "METRICS_ALLOW=256.0.0.1", "METRICS_ALLOW=256.0.0.1" ALLOW_RULE },
	};
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = { cases[i].env, NULL };

		err[0] = '\0';
		assert_int_equal(test_config(&cfg, env, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].message);
	}
}

/* Paths of CONFIG_PATH_MAX bytes or more are refused, DB_PATH's metrics file too. */
static void long_paths_are_refused_by_name(void **state)
{
	static char db[CONFIG_PATH_MAX + 16], metrics[CONFIG_PATH_MAX + 16];
	char err[ERR_LEN];
	struct config cfg;

	(void)state;
	memset(db, 'd', sizeof(db) - 1);
	memcpy(db, "DB_PATH=", 8);
	memset(metrics, 'm', sizeof(metrics) - 1);
	memcpy(metrics, "METRICS_PATH=", 13);
	{
		const char *env[] = { db, NULL };

		assert_int_equal(test_config(&cfg, env, err, sizeof(err)), -1);
		assert_string_equal(err, "DB_PATH: must be shorter than 4096 bytes");
	}
	{
		const char *env[] = { metrics, NULL };

		assert_int_equal(test_config(&cfg, env, err, sizeof(err)), -1);
		assert_string_equal(err, "METRICS_PATH: must be shorter than 4096 bytes");
	}
	/* A DB_PATH that fits, but not with "-metrics" after it. */
	db[8 + CONFIG_PATH_MAX - 4] = '\0';
	{
		const char *env[] = { db, NULL };

		assert_int_equal(test_config(&cfg, env, err, sizeof(err)), -1);
		assert_string_equal(err, "DB_PATH: too long");
	}
}

/* The whole output, every setting set away from its default. */
static void config_print_names_every_setting(void **state)
{
	const char *env[] = {
		"SQLITE_PROFILE=django-default", "DB_PATH=/d/db", "METRICS_PATH=/d/m",
		"METRICS_ALLOW=10.0.0.1,fd00::/8",
		"DATABASE_URL=postgres://u:pw@h/d", "SQLITE_JOURNAL_MODE=truncate", "SQLITE_SYNCHRONOUS=extra",
		"SQLITE_CHECKPOINTS=external",
		"SQLITE_BUSY_TIMEOUT_MS=7", "DB_DEADLINE_MS=1500", "SQLITE_TXN=immediate",
		"HASH_WHEN=before-begin", "WRITE_LOCK_WAIT=flock",
		"HASH_METHOD=bcrypt", "HASH_COST=5", "WEB_CONCURRENCY=9",
		"WORKER_THREADS=3",
		"PORT=81", "MULTIWATCH_RETRIES=3", "MULTIWATCH_TIMEOUT_MS=4",
		"POOL_TIMEOUT=6", "FCGI_LISTEN=127.0.0.2:9000",
		"APP_UPSTREAMS=127.0.0.2:9000,unix:/run/s.sock", NULL
	};
	static const char want[] =
		"SQLITE_PROFILE=django-default\n" "DB_PATH=/d/db\n"
		"DATABASE_URL=postgres://u:***@h/d\n" "METRICS_PATH=/d/m\n"
		"METRICS_ALLOW=10.0.0.1,fd00::/8\n"
		"SQLITE_JOURNAL_MODE=truncate\n" "SQLITE_SYNCHRONOUS=extra\n"
		"SQLITE_CHECKPOINTS=external\n"
		"SQLITE_BUSY_TIMEOUT_MS=7\n" "DB_DEADLINE_MS=1500\n" "SQLITE_TXN=immediate\n"
		"HASH_WHEN=before-begin\n" "WRITE_LOCK_WAIT=flock\n"
		"HASH_METHOD=bcrypt\n" "HASH_COST=5\n" "WORKERS=9\n" "WORKER_THREADS=3\n"
		"GROUP_COMMIT=off\n" "GROUP_COMMIT_MAX=64\n" "PORT=81\n"
		"MULTIWATCH_RETRIES=3\n" "MULTIWATCH_TIMEOUT_MS=4\n" "POOL_TIMEOUT=6\n"
		"FCGI_LISTEN=127.0.0.2:9000\n" "APP_UPSTREAMS=127.0.0.2:9000,unix:/run/s.sock\n";
	struct config cfg;
	char err[ERR_LEN], out[2048] = "";
	FILE *f = fmemopen(out, sizeof(out), "w");

	(void)state;
	assert_non_null(f);
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	config_print(&cfg, f);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(out, want);
}

/* The statements `sqlite-fcgi config` prints for a worker's connection. */
static void print_plan(const char *const *env, char *out, size_t len)
{
	struct config cfg;
	char err[ERR_LEN];
	FILE *f = fmemopen(out, len, "w");

	assert_non_null(f);
	assert_int_equal(test_config(&cfg, env, err, sizeof(err)), 0);
	db_print_plan(&cfg, f);
	assert_int_equal(fclose(f), 0);
}

static void config_prints_the_statements_each_profile_runs(void **state)
{
	const char *tuned[] = { "DB_PATH=/d/db", NULL };
	const char *django[] = { "DB_PATH=/d/db", "SQLITE_PROFILE=django-default", NULL };
	const char *pieces[] = { "DB_PATH=/d/db", "SQLITE_JOURNAL_MODE=persist",
		"SQLITE_SYNCHRONOUS=off", "SQLITE_BUSY_TIMEOUT_MS=0", "WRITE_LOCK_WAIT=sqlite",
		"HASH_WHEN=inside-transaction", NULL };
	const char *external[] = { "DB_PATH=/d/db", "SQLITE_CHECKPOINTS=external", NULL };
	char out[2048] = "";

	(void)state;
	print_plan(tuned, out, sizeof(out));
	assert_string_equal(out,
		"sqlite3_busy_timeout(db, 5000);\n"
		"PRAGMA journal_mode = wal;\n"
		"PRAGMA synchronous = full;\n"
		"PRAGMA journal_size_limit = 67108864;\n"
		"sqlite3_wal_hook(db, ...);  -- after a commit: PASSIVE checkpoint from 1000 WAL pages, TRUNCATE from 4096\n"
		"flock(\"/d/db-writelock\", LOCK_EX);  -- before each BEGIN IMMEDIATE and each write outside a transaction, released after COMMIT/ROLLBACK\n"
		"BEGIN IMMEDIATE;  -- each /create_user/ transaction, password hashed before BEGIN\n"
		"BEGIN IMMEDIATE;  -- the matrix's transaction.atomic that writes (docs/matrix.md); one that only reads: BEGIN DEFERRED; read_write_transaction_immediate/: BEGIN IMMEDIATE; the others: autocommit\n");
	print_plan(django, out, sizeof(out));
	assert_string_equal(out,
		"sqlite3_busy_timeout(db, 5000);\n"
		"PRAGMA journal_mode = delete;\n"
		"PRAGMA synchronous = full;\n"
		"BEGIN DEFERRED;  -- each /create_user/ transaction, password hashed inside the transaction\n"
		"BEGIN DEFERRED;  -- the matrix's transaction.atomic that writes (docs/matrix.md); one that only reads: BEGIN DEFERRED; read_write_transaction_immediate/: BEGIN IMMEDIATE; the others: autocommit\n");
	print_plan(pieces, out, sizeof(out));
	assert_string_equal(out,
		"sqlite3_busy_timeout(db, 0);\n"
		"PRAGMA journal_mode = persist;\n"
		"PRAGMA synchronous = off;\n"
		"BEGIN IMMEDIATE;  -- each /create_user/ transaction, password hashed inside the transaction\n"
		"BEGIN IMMEDIATE;  -- the matrix's transaction.atomic that writes (docs/matrix.md); one that only reads: BEGIN DEFERRED; read_write_transaction_immediate/: BEGIN IMMEDIATE; the others: autocommit\n");
	/* Beside Litestream: no hook, no autocheckpoint, no checkpoint on close. */
	print_plan(external, out, sizeof(out));
	assert_string_equal(out,
		"sqlite3_busy_timeout(db, 5000);\n"
		"PRAGMA journal_mode = wal;\n"
		"PRAGMA synchronous = full;\n"
		"PRAGMA journal_size_limit = 67108864;\n"
		"PRAGMA wal_autocheckpoint = 0;  -- no checkpoint after a commit\n"
		"sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);  -- nor when the last connection closes\n"
		"flock(\"/d/db-writelock\", LOCK_EX);  -- before each BEGIN IMMEDIATE and each write outside a transaction, released after COMMIT/ROLLBACK\n"
		"BEGIN IMMEDIATE;  -- each /create_user/ transaction, password hashed before BEGIN\n"
		"BEGIN IMMEDIATE;  -- the matrix's transaction.atomic that writes (docs/matrix.md); one that only reads: BEGIN DEFERRED; read_write_transaction_immediate/: BEGIN IMMEDIATE; the others: autocommit\n");
}

/* The markdown listing has one row per setting, with both profiles' defaults. */
static void markdown_lists_every_setting(void **state)
{
	char out[8192] = "";
	FILE *f = fmemopen(out, sizeof(out), "w");

	(void)state;
	assert_non_null(f);
	config_list(CONFIG_LIST_MARKDOWN, f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(out, "| `WRITE_LOCK_WAIT` | `flock` (django-default: `sqlite`) | `sqlite` or `flock` |"));
	assert_non_null(strstr(out, "| `SQLITE_BUSY_TIMEOUT_MS` | `5000` | `0` to `600000` |"));
	assert_non_null(strstr(out, "| `WORKERS` | CPUs + 1 | `1` to `256` |"));
}

static void database_url_picks_the_engine(void **state)
{
	const char *pg[] = { "DATABASE_URL=postgresql://u:pw@db.example/app", NULL };
	const char *pg2[] = { "DATABASE_URL=postgres://u@/app?host=/run/postgresql", NULL };
	const char *sqlite_rel[] = { "DATABASE_URL=sqlite:///var/x.sqlite3", "DB_PATH=/ignored", NULL };
	const char *sqlite_abs[] = { "DATABASE_URL=sqlite:////srv/x.sqlite3", NULL };
	struct config cfg;
	char err[ERR_LEN];

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
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, mysql, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DATABASE_URL"));
	assert_null(strstr(err, "hunter2"));
	assert_int_equal(test_config(&cfg, empty_path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DATABASE_URL"));
}

/* The secrets a masked URL must never show, in any form. */
static void assert_no_secret(const char *url, const char *out)
{
	static const char *const secrets[] = { "hunter", "pw", "s3cr", "%3F", "%40", "%25" };

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strstr(out, secrets[i]) != NULL)
			fail_msg("%s printed as %s", url, out);
}

/* DATABASE_URL as `sqlite-fcgi config` prints it: db_mask_url of a config holding url. */
static void mask_url(const char *url, char *out, size_t outlen)
{
	static struct config cfg;

	cfg.engine = url[0] != '\0' ? ENGINE_POSTGRES : ENGINE_SQLITE;
	snprintf(cfg.database_url, sizeof(cfg.database_url), "%s", url);
	db_mask_url(&cfg, out, outlen);
}

/*
 * Rebuilt from libpq's parse: a '?' in the user info is the password's,
 * as libpq reads it; percent-encoded '@' and '%'; password= and
 * sslpassword= in the query, and a key percent-encoded (pass%77ord).
 */
static void mask_url_hides_every_password(void **state)
{
	static const struct { const char *url, *masked; } cases[] = {
		{ "postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db" },
		{ "postgres://u@h/db", "postgres://u@h/db" },
		{ "postgres://h/db", "postgres://h/db" },
		{ "postgres://u:hunter?2@h/db", "postgres://u:***@h/db" },
		{ "postgres://u:hunter?2@h/db?sslmode=require",
		  "postgres://u:***@h/db?sslmode=require" },
		{ "postgres://u:hunter%402@h/db", "postgres://u:***@h/db" },
		{ "postgres://u:hunter%252@h/db", "postgres://u:***@h/db" },
		{ "postgresql:///db?user=u&password=pw&sslmode=require",
		  "postgresql://u:***@/db?sslmode=require" },
		{ "postgres://u:a@h/db?password=hunter2", "postgres://u:***@h/db" },
		{ "postgres://u@h/db?pass%77ord=hunter2", "postgres://u:***@h/db" },
		{ "postgres://u@h/db?sslpassword=hunter2&sslmode=require",
		  "postgres://u@h/db?sslmode=require&sslpassword=***" },
		{ "postgres://u:pw@[::1]:5433/db", "postgres://u:***@[::1]:5433/db" },
		{ "postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write",
		  "postgres://u:***@/db?host=h1,h2&port=5432,5433&target_session_attrs=read-write" },
		{ "postgres://u@%2Frun%2Fpostgresql/db", "postgres://u@%2Frun%2Fpostgresql/db" },
		/* libpq would read the rest of the password as host and name. */
		{ "postgres://u:hunter@2/x@h/db", "postgres://(not shown: an unencoded '@' in it)" },
		{ "postgres://u:s3cr/t@h/db", "postgres://(not shown: an unencoded '@' in it)" },
		{ "postgres://u:s3cr@h/db?bogus=1", "postgres://(not shown: libpq cannot parse it)" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mask_url(cases[i].url, out, sizeof(out));
		assert_string_equal(out, cases[i].masked);
		assert_no_secret(cases[i].url, out);
	}
	mask_url("postgres://u:secretsecret@h/db", out, 12);
	assert_null(strstr(out, "secret"));
	mask_url("", out, sizeof(out));
	assert_string_equal(out, "");
}

/* libpq's message about a URL it cannot parse is shown only when it cannot quote a secret. */
static void database_url_libpq_refuses_without_quoting_a_secret(void **state)
{
	const char *hidden[] = { "DATABASE_URL=postgres://u:s3cr@h/db?bogus=1", NULL };
	const char *stray[] = { "DATABASE_URL=postgres://u:s3cr@t@h/db", NULL };
	const char *shown[] = { "DATABASE_URL=postgres://h/db?bogus=1", NULL };
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(test_config(&cfg, hidden, err, sizeof(err)), 0);
	assert_int_equal(db_check_config(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "DATABASE_URL: libpq cannot parse it (its message is not"
			    " shown: it may quote the password)");
	assert_int_equal(test_config(&cfg, stray, err, sizeof(err)), 0);
	assert_int_equal(db_check_config(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "write '@' as %40"));
	assert_null(strstr(err, "s3cr"));
	assert_int_equal(test_config(&cfg, shown, err, sizeof(err)), 0);
	assert_int_equal(db_check_config(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_tuned_profile),
		cmocka_unit_test(django_default_profile),
		cmocka_unit_test(group_commit_follows_the_transaction),
		cmocka_unit_test(worker_threads_follow_the_engine),
		cmocka_unit_test(each_piece_overrides_the_profile),
		cmocka_unit_test(web_concurrency_is_read_and_workers_wins),
		cmocka_unit_test(empty_values_mean_default),
		cmocka_unit_test(bad_values_are_refused_by_name),
		cmocka_unit_test(long_paths_are_refused_by_name),
		cmocka_unit_test(config_print_names_every_setting),
		cmocka_unit_test(config_prints_the_statements_each_profile_runs),
		cmocka_unit_test(database_url_picks_the_engine),
		cmocka_unit_test(database_url_refused_without_echoing_it),
		cmocka_unit_test(mask_url_hides_every_password),
		cmocka_unit_test(database_url_libpq_refuses_without_quoting_a_secret),
		cmocka_unit_test(markdown_lists_every_setting),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
