#include "config_table.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

const char *config_group_commit_name(enum config_group_commit g)
{
	return config_choice_name(group_commits, NCHOICES(group_commits), (int)g);
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

static const char *getenv_const(const char *name)
{
	return getenv(name);
}

/* Unset and empty both mean "use the default", as git_env_* does. */
static const char *env_value(config_getenv_fn get, const char *name)
{
	const char *v = name != NULL ? get(name) : NULL;

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

static int parse_choice(const struct setting *s, const char *name, const char *v,
			int *out, char *err, size_t errlen)
{
	size_t used;

	for (size_t i = 0; i < s->nchoices; i++) {
		if (strcmp(v, s->choices[i].name) == 0) {
			*out = s->choices[i].value;
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "%s=%s: must be one of", name, v);
	for (size_t i = 0; i < s->nchoices && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, "%s %s",
					 i ? "," : "", s->choices[i].name);
	return -1;
}

static int parse_long(const struct setting *s, const char *name, const char *v,
		      long *out, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < s->min || n > s->max) {
		snprintf(err, errlen, "%s=%s: must be a whole number from %ld to %ld",
			 name, v, s->min, s->max);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_path(const char *name, const char *v, char *out,
		      char *err, size_t errlen)
{
	if (strlen(v) >= CONFIG_PATH_MAX) {
		snprintf(err, errlen, "%s: must be shorter than %d bytes", name,
			 CONFIG_PATH_MAX);
		return -1;
	}
	strcpy(out, v);
	return 0;
}

/*
 * One endpoint of a SETTING_ENDPOINTS list, entry[0..n): unix:/PATH or
 * /PATH (unless tcp_only), else HOST:PORT with PORT from 1 to 65535.
 * spawn-fcgi (the pool's address) and nginx/render.sh (the upstreams it
 * writes) check the host part further.
 */
static bool endpoint_ok(const char *entry, size_t n, bool tcp_only)
{
	size_t colon = n, digits;
	long port = 0;

	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)entry[i]))
			return false;
		if (entry[i] == ':')
			colon = i;
	}
	if (!tcp_only && entry[0] == '/')
		return n > 1;
	if (!tcp_only && n > 6 && strncmp(entry, "unix:/", 6) == 0)
		return true;
	if (colon == 0 || colon == n)
		return false;
	digits = n - colon - 1;
	if (digits == 0 || digits > 5)
		return false;
	for (size_t i = colon + 1; i < n; i++) {
		if (!isdigit((unsigned char)entry[i]))
			return false;
		port = port * 10 + (entry[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Checks a comma-separated list of endpoints, then stores it. */
static int parse_endpoints(const struct setting *s, const char *name, const char *v,
			   char *out, char *err, size_t errlen)
{
	const char *p = v;

	/* Empty: unset.  Else entries between commas, none of them empty. */
	for (long count = 1; *v != '\0'; count++) {
		size_t n = strcspn(p, ",");

		if (n == 0 || !endpoint_ok(p, n, s->min == 1) || count > s->max) {
			snprintf(err, errlen, "%s=%s: must be %s", name, v, s->min == 1 ?
				 "ADDR:PORT" : "HOST:PORT, unix:/PATH or /PATH, comma-separated");
			return -1;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return parse_path(name, v, out, err, errlen);
}

/* One entry of a SETTING_ADDRESSES list: ADDR or ADDR/BITS, IPv4 or IPv6. */
static bool address_ok(const char *entry, size_t n)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *slash = memchr(entry, '/', n);
	size_t alen = slash ? (size_t)(slash - entry) : n;
	long bits = -1, most;
	int family;

	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, entry, alen);
	addr[alen] = '\0';
	family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, addr, bin) != 1)
		return false;
	if (slash == NULL)
		return true;
	most = family == AF_INET6 ? 128 : 32;
	for (const char *d = slash + 1; d < entry + n; d++) {
		if (!isdigit((unsigned char)*d) || bits > most)
			return false;
		bits = (bits < 0 ? 0 : bits * 10) + (*d - '0');
	}
	return bits >= 0 && bits <= most;
}

/* Checks a comma-separated list of addresses, then stores it. */
static int parse_addresses(const struct setting *s, const char *name, const char *v,
			   char *out, char *err, size_t errlen)
{
	const char *p = v;

	for (long count = 1;; count++) {
		size_t n = strcspn(p, ",");

		if (!address_ok(p, n) || count > s->max) {
			snprintf(err, errlen, "%s=%s: must be IPv4 or IPv6 addresses, each with"
				 " an optional /BITS (127.0.0.0/8, ::1), comma-separated, at most"
				 " %ld", name, v, s->max);
			return -1;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return parse_path(name, v, out, err, errlen);
}

/* Stores value v, read from variable name, in s's field of cfg. */
static int setting_store(const struct setting *s, const char *name, const char *v,
			 struct config *cfg, char *err, size_t errlen)
{
	void *field = (char *)cfg + s->offset;

	switch (s->type) {
	case SETTING_PATH:
		return parse_path(name, v, field, err, errlen);
	case SETTING_CHOICE:
		/* The enums of config.h are int-sized: every value fits an int. */
		return parse_choice(s, name, v, field, err, errlen);
	case SETTING_LONG:
		return parse_long(s, name, v, field, err, errlen);
	case SETTING_DATABASE_URL:
		return config_parse_database_url(v, cfg, err, errlen);
	case SETTING_ENDPOINTS:
		return parse_endpoints(s, name, v, field, err, errlen);
	case SETTING_ADDRESSES:
		return parse_addresses(s, name, v, field, err, errlen);
	}
	return -1;
}

static const char *setting_default(const struct setting *s, enum config_profile p)
{
	return (p == PROFILE_DJANGO_DEFAULT && s->django != NULL) ? s->django : s->tuned;
}

static int setting_load(const struct setting *s, struct config *cfg,
			config_getenv_fn get, char *err, size_t errlen)
{
	const char *v = env_value(get, s->name);

	if (v != NULL)
		return setting_store(s, s->name, v, cfg, err, errlen);
	v = env_value(get, s->alias);
	if (v != NULL)
		return setting_store(s, s->alias, v, cfg, err, errlen);
	if (s->computed != NULL)
		return s->computed(cfg, err, errlen);
	return setting_store(s, s->name, setting_default(s, cfg->profile), cfg,
			     err, errlen);
}

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

static int check_group_commit(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->group_commit == GROUP_COMMIT_OFF || group_commit_fits(cfg))
		return 0;
	snprintf(err, errlen, "GROUP_COMMIT=on: needs SQLITE_TXN=immediate and"
		 " HASH_WHEN=before-begin (SQLITE_TXN=%s, HASH_WHEN=%s): a shared"
		 " transaction begins IMMEDIATE and holds no hash; set GROUP_COMMIT=off",
		 config_txn_name(cfg->txn), config_hash_when_name(cfg->hash_when));
	return -1;
}

int config_load(struct config *cfg, config_getenv_fn get, char *err, size_t errlen)
{
	if (get == NULL)
		get = getenv_const;
	memset(cfg, 0, sizeof(*cfg));
	cfg->profile = PROFILE_TUNED;
	for (size_t i = 0; i < config_nsettings; i++)
		if (setting_load(&config_settings[i], cfg, get, err, errlen) != 0)
			return -1;
	return check_group_commit(cfg, err, errlen);
}

