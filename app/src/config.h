#ifndef SQLITE_FCGI_CONFIG_H
#define SQLITE_FCGI_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

/*
 * Every setting of sqlite-fcgi, read once from the environment at start-up
 * (README.md, "Settings", is `sqlite-fcgi config --markdown`).  A profile gives the defaults of the SQLite
 * settings; each of them can then be set on its own.
 */

enum config_profile { PROFILE_TUNED, PROFILE_DJANGO_DEFAULT };
enum config_journal { JOURNAL_DELETE, JOURNAL_TRUNCATE, JOURNAL_PERSIST, JOURNAL_WAL };
enum config_sync { SYNC_OFF, SYNC_NORMAL, SYNC_FULL, SYNC_EXTRA };
enum config_txn { TXN_DEFERRED, TXN_IMMEDIATE };
/* Where the slow password hash runs: before BEGIN, or inside the transaction. */
enum config_hash_when { HASH_BEFORE_BEGIN, HASH_INSIDE_TXN };
/* How a writer waits for the write lock: SQLite's busy handler, or flock()
 * (with BEGIN IMMEDIATE only: a deferred BEGIN takes no write lock). */
enum config_lock_wait { LOCK_WAIT_SQLITE, LOCK_WAIT_FLOCK };
/* Who checkpoints the WAL: the workers, or another program (Litestream). */
enum config_checkpoints { CHECKPOINTS_APP, CHECKPOINTS_EXTERNAL };
/* Whether a worker's write requests share transactions (commit.c). */
enum config_group_commit { GROUP_COMMIT_OFF, GROUP_COMMIT_ON };
/* The database engine, from DATABASE_URL's scheme. */
enum config_engine { ENGINE_SQLITE, ENGINE_POSTGRES };
enum config_hash_method {
	HASH_YESCRYPT, HASH_GOST_YESCRYPT, HASH_SCRYPT, HASH_BCRYPT,
	HASH_SHA512CRYPT, HASH_SHA256CRYPT,
	HASH_PBKDF2_SHA256,	/* Django's default format, with libcrypto */
	HASH_DJANGO_BCRYPT	/* bcrypt as Django's BCryptPasswordHasher stores it */
};

#define CONFIG_PATH_MAX 4096
#define CONFIG_URL_MAX 1024

/*
 * The files beside DB_PATH: the default METRICS_PATH, the flock file, WAL,
 * the rollback journal, the marker of a file replaced under the pool.
 */
#define CONFIG_METRICS_SUFFIX "-metrics"
#define CONFIG_WRITELOCK_SUFFIX "-writelock"
#define CONFIG_WAL_SUFFIX "-wal"
#define CONFIG_SHM_SUFFIX "-shm"
#define CONFIG_JOURNAL_SUFFIX "-journal"
#define CONFIG_REPLACED_SUFFIX "-replaced"

struct config {
	enum config_engine engine;
	/*
	 * DATABASE_URL as given, for the PostgreSQL engine (empty for SQLite).
	 * It may hold a password: print db_mask_url()'s copy, never this.
	 */
	char database_url[CONFIG_URL_MAX];
	char db_path[CONFIG_PATH_MAX];
	char metrics_path[CONFIG_PATH_MAX];	/* the workers' shared counters */
	/* Who nginx lets read /metrics (nginx/render.sh): addresses and CIDRs. */
	char metrics_allow[CONFIG_PATH_MAX];
	enum config_profile profile;
	enum config_journal journal;
	enum config_sync sync;
	enum config_checkpoints checkpoints;
	long busy_timeout_ms;
	long db_deadline_ms;		/* PostgreSQL: each request's waits for the server */
	enum config_txn txn;
	enum config_hash_when hash_when;
	enum config_lock_wait lock_wait;
	enum config_hash_method hash_method;
	long hash_cost;			/* 0: the method's default cost */
	long workers;
	long worker_threads;		/* serving threads in each worker process */
	enum config_group_commit group_commit;	/* write requests share COMMITs */
	long group_commit_max;		/* the most requests one COMMIT takes */
	long port;			/* nginx's; checked here, used by the scripts */
	long multiwatch_retries;	/* deploy/pool/workers.sh's */
	long multiwatch_timeout_ms;
	long pool_timeout_s;
	/* Several app hosts (docs/hosts.md), for deploy/local/stack.sh and workers.sh. */
	char fcgi_listen[CONFIG_PATH_MAX];	/* empty: the unix socket */
	char app_upstreams[CONFIG_PATH_MAX];	/* empty: this machine's pool */
};

/* Only the variables this program reads; the tests pass their own. */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Fills *cfg from the environment read through get (NULL: getenv).
 * Returns 0, or -1 with a message that names the variable, the value and
 * what is allowed in err (ERR_LEN bytes); *cfg is then undefined.
 */
int config_load(struct config *cfg, config_getenv_fn get, char *err, size_t errlen);


/* Prints the effective settings, every one, "NAME=value" a line. */
void config_print(const struct config *cfg, FILE *out);

enum config_listing {
	CONFIG_LIST_TEXT,	/* name, help, what is allowed, default */
	CONFIG_LIST_MARKDOWN,	/* README.md's table of settings */
	CONFIG_LIST_NAMES	/* every variable read, aliases too, one a line */
};

/* Describes every setting from the table in config.c (no environment read). */
void config_list(enum config_listing how, FILE *out);

const char *config_engine_name(enum config_engine e);
const char *config_profile_name(enum config_profile p);
const char *config_journal_name(enum config_journal j);
const char *config_sync_name(enum config_sync s);
const char *config_txn_name(enum config_txn t);
const char *config_hash_when_name(enum config_hash_when w);
const char *config_lock_wait_name(enum config_lock_wait w);
const char *config_hash_method_name(enum config_hash_method m);

#endif
