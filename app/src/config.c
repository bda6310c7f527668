#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct choice {
	const char *name;
	int value;
};

#define NCHOICES(a) (sizeof(a) / sizeof((a)[0]))

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
};

static const struct choice engines[] = {
	{ "sqlite", ENGINE_SQLITE },
	{ "postgresql", ENGINE_POSTGRES },
};

static const char *choice_name(const struct choice *c, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].value == value)
			return c[i].name;
	return "?";
}

const char *config_engine_name(enum config_engine e)
{
	return choice_name(engines, NCHOICES(engines), (int)e);
}

const char *config_profile_name(enum config_profile p)
{
	return choice_name(profiles, NCHOICES(profiles), (int)p);
}

const char *config_journal_name(enum config_journal j)
{
	return choice_name(journals, NCHOICES(journals), (int)j);
}

const char *config_sync_name(enum config_sync s)
{
	return choice_name(syncs, NCHOICES(syncs), (int)s);
}

const char *config_txn_name(enum config_txn t)
{
	return choice_name(txns, NCHOICES(txns), (int)t);
}

const char *config_hash_when_name(enum config_hash_when w)
{
	return choice_name(hash_whens, NCHOICES(hash_whens), (int)w);
}

const char *config_lock_wait_name(enum config_lock_wait w)
{
	return choice_name(lock_waits, NCHOICES(lock_waits), (int)w);
}

const char *config_hash_method_name(enum config_hash_method m)
{
	return choice_name(hash_methods, NCHOICES(hash_methods), (int)m);
}

/* Unset and empty both mean "use the default", as git_env_* does. */
static const char *env_value(config_getenv_fn get, const char *name)
{
	const char *v = get(name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Leaves *out alone when the variable is unset. */
static int parse_choice(config_getenv_fn get, const char *name,
			const struct choice *c, size_t n, int *out,
			char *err, size_t errlen)
{
	const char *v = env_value(get, name);
	size_t used;

	if (v == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, c[i].name) == 0) {
			*out = c[i].value;
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "%s=%s: must be one of", name, v);
	for (size_t i = 0; i < n && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, "%s %s",
					 i ? "," : "", c[i].name);
	return -1;
}

/* Leaves *out alone when the variable is unset. */
static int parse_long(config_getenv_fn get, const char *name, long min,
		      long max, long *out, char *err, size_t errlen)
{
	const char *v = env_value(get, name);
	char *end;
	long n;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		snprintf(err, errlen, "%s=%s: must be a whole number from %ld to %ld",
			 name, v, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static void apply_profile(struct config *cfg)
{
	/* Both profiles keep Python's sqlite3 default busy timeout of 5 s. */
	cfg->busy_timeout_ms = 5000;
	if (cfg->profile == PROFILE_TUNED) {
		cfg->journal = JOURNAL_WAL;
		cfg->sync = SYNC_NORMAL;
		cfg->txn = TXN_IMMEDIATE;
		cfg->hash_when = HASH_BEFORE_BEGIN;
		/* make bench: more req/s and shorter tails under contention. */
		cfg->lock_wait = LOCK_WAIT_FLOCK;
	} else {
		cfg->journal = JOURNAL_DELETE;
		cfg->sync = SYNC_FULL;
		cfg->txn = TXN_DEFERRED;
		cfg->hash_when = HASH_INSIDE_TXN;
		cfg->lock_wait = LOCK_WAIT_SQLITE;
	}
}

static long default_workers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return (cpus > 0 ? cpus : 1) + 1;
}

static int load_db_path(struct config *cfg, config_getenv_fn get, char *err,
			size_t errlen)
{
	const char *v = env_value(get, "DB_PATH");

	if (v == NULL)
		v = "var/db.sqlite3";
	if (strlen(v) >= sizeof(cfg->db_path)) {
		snprintf(err, errlen, "DB_PATH: must be shorter than %zu bytes",
			 sizeof(cfg->db_path));
		return -1;
	}
	/* A sqlite:/// DATABASE_URL has already named the file. */
	if (cfg->db_path[0] == '\0')
		strcpy(cfg->db_path, v);
	v = env_value(get, "METRICS_PATH");
	if (v == NULL) {
		if (snprintf(cfg->metrics_path, sizeof(cfg->metrics_path), "%s-metrics",
			     cfg->db_path) >= (int)sizeof(cfg->metrics_path)) {
			snprintf(err, errlen, "DB_PATH: too long");
			return -1;
		}
	} else if (strlen(v) >= sizeof(cfg->metrics_path)) {
		snprintf(err, errlen, "METRICS_PATH: must be shorter than %zu bytes",
			 sizeof(cfg->metrics_path));
		return -1;
	} else {
		strcpy(cfg->metrics_path, v);
	}
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * DATABASE_URL, as dj-database-url reads it: postgres:// or postgresql://
 * (libpq checks the rest: db_check_config), or sqlite:///PATH (PATH
 * relative, sqlite:////PATH absolute) in place of DB_PATH.  The value is
 * never copied into err: it may hold a password.
 */
static int load_database_url(struct config *cfg, config_getenv_fn get,
			     char *err, size_t errlen)
{
	const char *v = env_value(get, "DATABASE_URL");

	cfg->engine = ENGINE_SQLITE;
	if (v == NULL)
		return 0;
	if (starts_with(v, "sqlite:///")) {
		v += strlen("sqlite:///");
		if (v[0] == '\0' || strlen(v) >= sizeof(cfg->db_path)) {
			snprintf(err, errlen, "DATABASE_URL: sqlite:/// must be followed by"
				 " a path shorter than %zu bytes", sizeof(cfg->db_path));
			return -1;
		}
		strcpy(cfg->db_path, v);
		return 0;
	}
	if (!starts_with(v, "postgres://") && !starts_with(v, "postgresql://")) {
		snprintf(err, errlen, "DATABASE_URL: must start with postgres://,"
			 " postgresql:// or sqlite:/// (or be unset: SQLite at DB_PATH)");
		return -1;
	}
	if (strlen(v) >= sizeof(cfg->database_url)) {
		snprintf(err, errlen, "DATABASE_URL: must be shorter than %zu bytes",
			 sizeof(cfg->database_url));
		return -1;
	}
	strcpy(cfg->database_url, v);
	cfg->engine = ENGINE_POSTGRES;
	return 0;
}

/* Appends n bytes of s to out at *used, keeping out NUL-terminated. */
static void append(char *out, size_t outlen, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= outlen)
		return;
	if (n > outlen - 1 - *used)
		n = outlen - 1 - *used;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

/*
 * Where the password of url's user info starts and ends: from the first
 * ':' after "://" to the last '@' before the query.  The last '@', not
 * the first as libpq reads it: a password holding an unencoded '@' or '/'
 * is then masked whole, whatever libpq makes of it.
 */
static bool userinfo_password(const char *url, const char **start, const char **end)
{
	const char *auth = strstr(url, "://");
	const char *query, *at = NULL, *colon;

	if (auth == NULL)
		return false;
	auth += 3;
	query = strchr(auth, '?');
	for (const char *p = auth; *p != '\0' && p != query; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return false;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		return false;
	*start = colon + 1;
	*end = at;
	return true;
}

void config_mask_url(const char *url, char *out, size_t outlen)
{
	const char *start, *end, *p = url;
	const char *query;
	size_t used = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (userinfo_password(url, &start, &end)) {
		append(out, outlen, &used, url, (size_t)(start - url));
		append(out, outlen, &used, "***", 3);
		p = end;
	}
	query = strchr(p, '?');
	if (query == NULL) {
		append(out, outlen, &used, p, strlen(p));
		return;
	}
	append(out, outlen, &used, p, (size_t)(query - p));
	/* Each parameter of the query, its value hidden when it is a password. */
	for (p = query; *p != '\0';) {
		size_t n = strcspn(p + 1, "&") + 1;

		if (starts_with(p + 1, "password=")) {
			append(out, outlen, &used, p, 1 + strlen("password="));
			append(out, outlen, &used, "***", 3);
		} else {
			append(out, outlen, &used, p, n);
		}
		p += n;
	}
}

static int load_sqlite(struct config *cfg, config_getenv_fn get, char *err,
		       size_t errlen)
{
	int profile = PROFILE_TUNED, journal, sync, txn, when, wait;

	if (parse_choice(get, "SQLITE_PROFILE", profiles, NCHOICES(profiles),
			 &profile, err, errlen) != 0)
		return -1;
	cfg->profile = (enum config_profile)profile;
	apply_profile(cfg);
	journal = (int)cfg->journal;
	sync = (int)cfg->sync;
	txn = (int)cfg->txn;
	when = (int)cfg->hash_when;
	wait = (int)cfg->lock_wait;
	if (parse_choice(get, "SQLITE_JOURNAL_MODE", journals,
			 NCHOICES(journals), &journal, err, errlen) != 0 ||
	    parse_choice(get, "SQLITE_SYNCHRONOUS", syncs, NCHOICES(syncs),
			 &sync, err, errlen) != 0 ||
	    parse_choice(get, "SQLITE_TXN", txns, NCHOICES(txns), &txn, err,
			 errlen) != 0 ||
	    parse_choice(get, "HASH_WHEN", hash_whens, NCHOICES(hash_whens),
			 &when, err, errlen) != 0 ||
	    parse_choice(get, "WRITE_LOCK_WAIT", lock_waits, NCHOICES(lock_waits),
			 &wait, err, errlen) != 0 ||
	    parse_long(get, "SQLITE_BUSY_TIMEOUT_MS", 0, 600000,
		       &cfg->busy_timeout_ms, err, errlen) != 0)
		return -1;
	cfg->journal = (enum config_journal)journal;
	cfg->sync = (enum config_sync)sync;
	cfg->txn = (enum config_txn)txn;
	cfg->hash_when = (enum config_hash_when)when;
	cfg->lock_wait = (enum config_lock_wait)wait;
	return 0;
}

static int load_service(struct config *cfg, config_getenv_fn get, char *err,
			size_t errlen)
{
	int method = HASH_YESCRYPT;

	cfg->hash_cost = 0;
	cfg->workers = default_workers();
	cfg->port = 8000;
	if (parse_choice(get, "HASH_METHOD", hash_methods,
			 NCHOICES(hash_methods), &method, err, errlen) != 0 ||
	    parse_long(get, "HASH_COST", 0, 999999999, &cfg->hash_cost, err,
		       errlen) != 0 ||
	    parse_long(get, "WEB_CONCURRENCY", 1, 256, &cfg->workers, err,
		       errlen) != 0 ||
	    parse_long(get, "WORKERS", 1, 256, &cfg->workers, err, errlen) != 0 ||
	    parse_long(get, "PORT", 1, 65535, &cfg->port, err, errlen) != 0)
		return -1;
	cfg->hash_method = (enum config_hash_method)method;
	return 0;
}

static const char *getenv_const(const char *name)
{
	return getenv(name);
}

int config_load(struct config *cfg, config_getenv_fn get, char *err, size_t errlen)
{
	if (get == NULL)
		get = getenv_const;
	memset(cfg, 0, sizeof(*cfg));
	if (load_database_url(cfg, get, err, errlen) != 0 ||
	    load_db_path(cfg, get, err, errlen) != 0 ||
	    load_sqlite(cfg, get, err, errlen) != 0 ||
	    load_service(cfg, get, err, errlen) != 0)
		return -1;
	return 0;
}

void config_print(const struct config *cfg, FILE *out)
{
	char url[CONFIG_PATH_MAX + 16];

	if (cfg->engine == ENGINE_POSTGRES)
		config_mask_url(cfg->database_url, url, sizeof(url));
	else
		snprintf(url, sizeof(url), "sqlite:///%s", cfg->db_path);
	fprintf(out, "DATABASE_URL=%s\n", url);
	fprintf(out, "DB_PATH=%s\n", cfg->db_path);
	fprintf(out, "METRICS_PATH=%s\n", cfg->metrics_path);
	fprintf(out, "SQLITE_PROFILE=%s\n", config_profile_name(cfg->profile));
	fprintf(out, "SQLITE_JOURNAL_MODE=%s\n", config_journal_name(cfg->journal));
	fprintf(out, "SQLITE_SYNCHRONOUS=%s\n", config_sync_name(cfg->sync));
	fprintf(out, "SQLITE_BUSY_TIMEOUT_MS=%ld\n", cfg->busy_timeout_ms);
	fprintf(out, "SQLITE_TXN=%s\n", config_txn_name(cfg->txn));
	fprintf(out, "HASH_WHEN=%s\n", config_hash_when_name(cfg->hash_when));
	fprintf(out, "WRITE_LOCK_WAIT=%s\n", config_lock_wait_name(cfg->lock_wait));
	fprintf(out, "HASH_METHOD=%s\n", config_hash_method_name(cfg->hash_method));
	fprintf(out, "HASH_COST=%ld\n", cfg->hash_cost);
	fprintf(out, "WORKERS=%ld\n", cfg->workers);
	fprintf(out, "PORT=%ld\n", cfg->port);
}
