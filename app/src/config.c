#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "config_table.h"

static const struct choice profiles[] = {
	{ "tuned", PROFILE_TUNED },
	{ "django-default", PROFILE_DJANGO_DEFAULT },
};
/* MEMORY and OFF are left out on purpose: they lose data on a crash. */
static const struct choice journals[] = {
	{ "delete", JOURNAL_DELETE },
	{ "truncate", JOURNAL_TRUNCATE },
	{ "persist", JOURNAL_PERSIST },
	{ "wal", JOURNAL_WAL },
};
static const struct choice syncs[] = {
	{ "off", SYNC_OFF },
	{ "normal", SYNC_NORMAL },
	{ "full", SYNC_FULL },
	{ "extra", SYNC_EXTRA },
};
/* external: Litestream's advice, leave checkpoints to it (docs/durability.md). */
static const struct choice checkpoint_owners[] = {
	{ "app", CHECKPOINTS_APP },
	{ "external", CHECKPOINTS_EXTERNAL },
};
static const struct choice txns[] = {
	{ "deferred", TXN_DEFERRED },
	{ "immediate", TXN_IMMEDIATE },
};
static const struct choice hash_whens[] = {
	{ "before-begin", HASH_BEFORE_BEGIN },
	{ "inside-transaction", HASH_INSIDE_TXN },
};
static const struct choice lock_waits[] = {
	{ "sqlite", LOCK_WAIT_SQLITE },
	{ "flock", LOCK_WAIT_FLOCK },
};
static const struct choice hash_methods[] = {
	{ "yescrypt", HASH_YESCRYPT },
	{ "gost-yescrypt", HASH_GOST_YESCRYPT },
	{ "scrypt", HASH_SCRYPT },
	{ "bcrypt", HASH_BCRYPT },
	{ "sha512crypt", HASH_SHA512CRYPT },
	{ "sha256crypt", HASH_SHA256CRYPT },
	{ "pbkdf2_sha256", HASH_PBKDF2_SHA256 },
	{ "django-bcrypt", HASH_DJANGO_BCRYPT },
};

static const struct choice group_commits[] = {
	{ "off", GROUP_COMMIT_OFF },
	{ "on", GROUP_COMMIT_ON },
};

static const struct choice engines[] = {
	{ "sqlite", ENGINE_SQLITE },
	{ "postgresql", ENGINE_POSTGRES },
};

const char *config_choice_name(const struct choice *c, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].value == value)
			return c[i].name;
	return "?";
}

const char *config_engine_name(enum config_engine e)
{
	return config_choice_name(engines, NCHOICES(engines), (int)e);
}

const char *config_profile_name(enum config_profile p)
{
	return config_choice_name(profiles, NCHOICES(profiles), (int)p);
}

const char *config_journal_name(enum config_journal j)
{
	return config_choice_name(journals, NCHOICES(journals), (int)j);
}

const char *config_sync_name(enum config_sync s)
{
	return config_choice_name(syncs, NCHOICES(syncs), (int)s);
}

const char *config_txn_name(enum config_txn t)
{
	return config_choice_name(txns, NCHOICES(txns), (int)t);
}

const char *config_hash_when_name(enum config_hash_when w)
{
	return config_choice_name(hash_whens, NCHOICES(hash_whens), (int)w);
}

const char *config_lock_wait_name(enum config_lock_wait w)
{
	return config_choice_name(lock_waits, NCHOICES(lock_waits), (int)w);
}

const char *config_hash_method_name(enum config_hash_method m)
{
	return config_choice_name(hash_methods, NCHOICES(hash_methods), (int)m);
}

/*
 * The settings, one row each: adding a setting is adding a row (and its
 * field in struct config).  Rows are loaded in this order, so a default may
 * depend on a row above it: SQLITE_PROFILE comes first, DB_PATH before
 * METRICS_PATH.  `config --list`, `config --markdown` (README.md's table) and
 * `config --names` (what the tests clear) are printed from here too.
 */
static int default_metrics_path(struct config *cfg, char *err, size_t errlen);
static int default_sqlite(struct config *cfg, char *err, size_t errlen);
static int default_workers(struct config *cfg, char *err, size_t errlen);
static int default_deadline(struct config *cfg, char *err, size_t errlen);
static int default_worker_threads(struct config *cfg, char *err, size_t errlen);
static int default_group_commit(struct config *cfg, char *err, size_t errlen);

#define CHOICES(a) SETTING_CHOICE, a, NCHOICES(a), 0, 0
#define RANGE(lo, hi) SETTING_LONG, NULL, 0, lo, hi
#define PATH SETTING_PATH, NULL, 0, 0, 0
#define DATABASE_URL SETTING_DATABASE_URL, NULL, 0, 0, 0
#define ENDPOINTS(tcp_only, most) SETTING_ENDPOINTS, NULL, 0, tcp_only, most
#define ADDRESSES(most) SETTING_ADDRESSES, NULL, 0, 0, most
#define AT(field) offsetof(struct config, field)

const struct setting config_settings[] = {
	{ "SQLITE_PROFILE", NULL, CHOICES(profiles), "tuned", NULL, NULL, NULL,
	  AT(profile), "tuned (the fix) or django-default (the seed's behaviour): the defaults below" },
	{ "DB_PATH", NULL, PATH, "var/db.sqlite3", NULL, NULL, NULL, AT(db_path),
	  "the SQLite file (on a local disk: WAL needs shared memory on one host)" },
	/* After DB_PATH: a sqlite:/// URL names the file in its place. */
	{ "DATABASE_URL", NULL, DATABASE_URL, NULL, NULL, default_sqlite,
	  "unset: SQLite at DB_PATH", AT(database_url),
	  "the database as dj-database-url reads it: postgres://USER:PASSWORD@HOST:PORT/NAME"
	  " (PostgreSQL through libpq, see docs/postgresql.md) or sqlite:///PATH (in place of"
	  " DB_PATH); printed with its password masked" },
	{ "METRICS_PATH", NULL, PATH, NULL, NULL, default_metrics_path,
	  "DB_PATH" CONFIG_METRICS_SUFFIX " (deploy/pool/workers.sh: SOCKET.metrics, or with FCGI_LISTEN DB_PATH" CONFIG_METRICS_SUFFIX "-ADDR-PORT, fresh for each pool)",
	  AT(metrics_path), "the small file the workers share their counters through: created 0600, never through a symlink; a file of another user, or one others may read, is refused (the workers then serve without metrics)" },
	/* Loopback only: a proxy or a port forwarding in 10/8 looks private too. */
	{ "METRICS_ALLOW", NULL, ADDRESSES(64), "127.0.0.0/8,::1", NULL, NULL, NULL,
	  AT(metrics_allow), "who may read GET /metrics: nginx's allow list for it (nginx/render.sh), every other address denied" },
	{ "SQLITE_JOURNAL_MODE", NULL, CHOICES(journals), "wal", "delete", NULL, NULL,
	  AT(journal), "SQLite's journal mode" },
	/* A 2xx survives a power loss: NORMAL (opt-in) may not. */
	{ "SQLITE_SYNCHRONOUS", NULL, CHOICES(syncs), "full", NULL, NULL, NULL,
	  AT(sync), "SQLite's synchronous setting: when it waits for the disk" },
	{ "SQLITE_CHECKPOINTS", NULL, CHOICES(checkpoint_owners), "app", NULL, NULL, NULL,
	  AT(checkpoints), "who checkpoints the WAL: app (each worker, after its commits) or"
	  " external (no worker ever does, not even on close: wal_autocheckpoint=0, for"
	  " Litestream, which checkpoints itself; see docs/durability.md)" },
	/* Both profiles keep Python's sqlite3 default busy timeout of 5 s. */
	{ "SQLITE_BUSY_TIMEOUT_MS", NULL, RANGE(0, 600000), "5000", NULL, NULL, NULL,
	  AT(busy_timeout_ms), "how long a connection waits for a lock, in milliseconds" },
	/* After SQLITE_BUSY_TIMEOUT_MS: its default is computed from it. */
	{ "DB_DEADLINE_MS", NULL, RANGE(1000, 1800000), NULL, NULL, default_deadline,
	  "2 x SQLITE_BUSY_TIMEOUT_MS + 5000", AT(db_deadline_ms),
	  "PostgreSQL: the longest a request waits for the database server, connecting again included; past it 503, or 504 when a COMMIT went unanswered (its outcome is not known; see docs/postgresql.md)" },
	{ "SQLITE_TXN", NULL, CHOICES(txns), "immediate", "deferred", NULL, NULL,
	  AT(txn), "how BEGIN takes its lock" },
	{ "HASH_WHEN", NULL, CHOICES(hash_whens), "before-begin", "inside-transaction",
	  NULL, NULL, AT(hash_when), "where the slow password hash runs" },
	/* make bench: flock gives more req/s and shorter tails under contention. */
	{ "WRITE_LOCK_WAIT", NULL, CHOICES(lock_waits), "flock", "sqlite", NULL, NULL,
	  AT(lock_wait), "how a writer waits for the write lock (with BEGIN IMMEDIATE): SQLite's busy handler or flock on DB_PATH" CONFIG_WRITELOCK_SUFFIX },
	{ "HASH_METHOD", NULL, CHOICES(hash_methods), "yescrypt", NULL, NULL, NULL,
	  AT(hash_method), "the password hashing method: libxcrypt's, or Django's formats (pbkdf2_sha256, which a stock Django verifies, and django-bcrypt): see docs/passwords.md" },
	{ "HASH_COST", NULL, RANGE(0, 999999999), "0", NULL, NULL, NULL, AT(hash_cost),
	  "the method's cost: crypt_gensalt's parameter, or pbkdf2_sha256's iterations (0: the method's default: libxcrypt's; 12, Django's, for bcrypt and django-bcrypt, whose passwords are then at most 72 bytes; 260000 iterations, Django 3.2's, for pbkdf2_sha256)" },
	{ "WORKERS", "WEB_CONCURRENCY", RANGE(1, 256), NULL, NULL, default_workers,
	  "CPUs + 1", AT(workers), "worker processes; also read from WEB_CONCURRENCY (WORKERS wins)" },
	{ "WORKER_THREADS", NULL, RANGE(1, 64), NULL, NULL, default_worker_threads,
	  "`16` (PostgreSQL: `8`; django-default: `1`)", AT(worker_threads),
	  "serving threads in each worker process (per worker, not in all), each with its own database connection: the pool answers up to WORKERS x WORKER_THREADS requests at once; with GROUP_COMMIT=on their writes share transactions" },
	/* After SQLITE_TXN and HASH_WHEN: its default depends on them. */
	{ "GROUP_COMMIT", NULL, CHOICES(group_commits), NULL, NULL, default_group_commit,
	  "`on` (django-default, SQLITE_TXN=deferred or HASH_WHEN=inside-transaction: `off`)",
	  AT(group_commit), "on: the write requests of a worker's threads that arrive while a COMMIT"
	  " waits for the disk share the next transaction on the worker's one writer connection"
	  " (a SAVEPOINT each, each answered after that COMMIT returned: one sync for many);"
	  " off: one transaction per request on the thread's own connection (docs/operating.md)" },
	{ "GROUP_COMMIT_MAX", NULL, RANGE(1, 1024), "64", NULL, NULL, NULL,
	  AT(group_commit_max), "with GROUP_COMMIT=on, the most write requests one transaction takes" },
	{ "PORT", NULL, RANGE(1, 65535), "8000", NULL, NULL, NULL, AT(port),
	  "nginx's port" },
	{ "MULTIWATCH_RETRIES", NULL, RANGE(0, 1000000), "10", NULL, NULL, NULL,
	  AT(multiwatch_retries), "a worker slot that dies more than this many times, each within MULTIWATCH_TIMEOUT_MS of its start, is a crash loop and is given up" },
	{ "MULTIWATCH_TIMEOUT_MS", NULL, RANGE(1, 3600000), "1000", NULL, NULL, NULL,
	  AT(multiwatch_timeout_ms), "see MULTIWATCH_RETRIES; a worker that lived longer is always restarted" },
	{ "POOL_TIMEOUT", NULL, RANGE(1, 86400), "30", NULL, NULL, NULL, AT(pool_timeout_s),
	  "seconds deploy/pool/workers.sh waits at most for a pool to come up or to drain" },
	{ "FCGI_LISTEN", NULL, ENDPOINTS(1, 1), "", NULL, NULL, NULL, AT(fcgi_listen),
	  "the pool listens on this TCP address instead of the unix socket (docs/hosts.md)" },
	{ "APP_UPSTREAMS", NULL, ENDPOINTS(0, 64), "", NULL, NULL, NULL, AT(app_upstreams),
	  "the pools nginx sends requests to, instead of this machine's (docs/hosts.md)" },
};

const size_t config_nsettings = NCHOICES(config_settings);

static int default_metrics_path(struct config *cfg, char *err, size_t errlen)
{
	if (snprintf(cfg->metrics_path, sizeof(cfg->metrics_path), "%s%s",
		     cfg->db_path, CONFIG_METRICS_SUFFIX) >= (int)sizeof(cfg->metrics_path)) {
		snprintf(err, errlen, "DB_PATH: too long");
		return -1;
	}
	return 0;
}

static int default_sqlite(struct config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	cfg->engine = ENGINE_SQLITE;
	return 0;
}

static int default_workers(struct config *cfg, char *err, size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)err;
	(void)errlen;
	cfg->workers = (cpus > 0 ? cpus : 1) + 1;
	return 0;
}

/*
 * Above statement_timeout (twice the busy timeout): the server's own
 * timeouts, which name the cause and release its locks, come first; the
 * deadline catches what they cannot see, a network that stopped answering.
 */
static int default_deadline(struct config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	cfg->db_deadline_ms = 2 * cfg->busy_timeout_ms + 5000;
	return 0;
}

/*
 * Group commit's figures (docs/operating.md, docs/postgresql.md): on
 * SQLite 16 threads a worker gave the most, on PostgreSQL 8 (each thread
 * is a server process there too); django-default keeps one, as before.
 */
static int default_worker_threads(struct config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (cfg->profile == PROFILE_DJANGO_DEFAULT)
		cfg->worker_threads = 1;
	else
		cfg->worker_threads = cfg->engine == ENGINE_POSTGRES ? 8 : 16;
	return 0;
}

/*
 * A batch always begins IMMEDIATE and holds no hash: grouping a deferred
 * transaction or one that hashes inside would not be the transaction the
 * other settings ask for.
 */
static bool group_commit_fits(const struct config *cfg)
{
	return cfg->txn == TXN_IMMEDIATE && cfg->hash_when == HASH_BEFORE_BEGIN;
}

static int default_group_commit(struct config *cfg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	cfg->group_commit = cfg->profile == PROFILE_TUNED && group_commit_fits(cfg)
		? GROUP_COMMIT_ON : GROUP_COMMIT_OFF;
	return 0;
}

int check_group_commit(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->group_commit == GROUP_COMMIT_OFF || group_commit_fits(cfg))
		return 0;
	snprintf(err, errlen, "GROUP_COMMIT=on: needs SQLITE_TXN=immediate and"
		 " HASH_WHEN=before-begin (SQLITE_TXN=%s, HASH_WHEN=%s): a shared"
		 " transaction begins IMMEDIATE and holds no hash; set GROUP_COMMIT=off",
		 config_txn_name(cfg->txn), config_hash_when_name(cfg->hash_when));
	return -1;
}
