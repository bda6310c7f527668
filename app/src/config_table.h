#ifndef SQLITE_FCGI_CONFIG_TABLE_H
#define SQLITE_FCGI_CONFIG_TABLE_H

#include <stddef.h>

struct config;

/*
 * The table of settings (config.c), shared by the files that read it:
 * config_load.c loads, config_value.c parses and checks each value,
 * config_print.c prints and lists, config_url.c reads DATABASE_URL.  Not
 * for the rest of the program, which sees config.h.
 */

struct choice {
	const char *name;
	int value;
};

#define NCHOICES(a) (sizeof(a) / sizeof((a)[0]))

/* The name of value among c[0..n), or "?" */
const char *config_choice_name(const struct choice *c, size_t n, int value);

enum setting_type {
	SETTING_PATH, SETTING_CHOICE, SETTING_LONG, SETTING_DATABASE_URL,
	/* FastCGI endpoints, comma-separated: HOST:PORT, [V6]:PORT, unix:/PATH or
	 * /PATH; min 1 allows HOST:PORT only, max is how many at most. */
	SETTING_ENDPOINTS,
	/* IPv4 or IPv6 addresses, each with an optional /BITS, comma-separated;
	 * max is how many at most. */
	SETTING_ADDRESSES
};

/* A default computed at load time rather than written in the table. */
typedef int (*setting_default_fn)(struct config *cfg, char *err, size_t errlen);

struct setting {
	const char *name;
	const char *alias;		/* read when name is unset (or NULL) */
	enum setting_type type;
	const struct choice *choices;	/* SETTING_CHOICE */
	size_t nchoices;
	long min, max;			/* SETTING_LONG */
	/* Default of the tuned profile, then of django-default (NULL: the same). */
	const char *tuned, *django;
	setting_default_fn computed;	/* instead of tuned/django */
	const char *computed_text;	/* what the listing says of it */
	size_t offset;			/* where it goes in struct config */
	const char *help;
};

extern const struct setting config_settings[];
extern const size_t config_nsettings;

/*
 * After every row is loaded: GROUP_COMMIT=on needs SQLITE_TXN=immediate
 * and HASH_WHEN=before-begin.  0, or -1 with err saying what to set.
 */
int check_group_commit(const struct config *cfg, char *err, size_t errlen);

/*
 * DATABASE_URL, as dj-database-url reads it: sets cfg->engine, and
 * cfg->database_url or (sqlite:///) cfg->db_path.  Returns 0, or -1 with
 * err set; the value is never copied into err (it may hold a password).
 */
int config_parse_database_url(const char *v, struct config *cfg, char *err,
			      size_t errlen);

#endif
