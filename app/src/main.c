/*
 * sqlite-fcgi: a FastCGI worker that creates users in a shared SQLite file
 * (or, with DATABASE_URL=postgres://..., in PostgreSQL).
 *
 *   sqlite-fcgi serve     answer FastCGI requests on fd 0 (under spawn-fcgi)
 *   sqlite-fcgi migrate   create or upgrade the schema
 *   sqlite-fcgi config    print the effective settings and SQLite statements
 *   sqlite-fcgi config --list|--markdown|--names   describe every setting
 *   sqlite-fcgi backup DEST [--keep N] [--wait S]   an online copy of the database
 *   sqlite-fcgi restore SRC [--wait S]              SRC's content into the live database
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "password.h"
#include "server.h"

static const char usage[] =
	"usage: sqlite-fcgi serve|migrate|config\n"
	"       sqlite-fcgi config --list|--markdown|--names\n"
	"       sqlite-fcgi backup DEST [--keep N] [--wait SECONDS]\n"
	"       sqlite-fcgi restore SRC [--wait SECONDS]\n"
	"  serve    answer FastCGI requests on the socket on fd 0 (run by spawn-fcgi)\n"
	"  migrate  create the schema in DB_PATH (or DATABASE_URL) when missing (idempotent)\n"
	"  config   print the effective settings and the statements a worker runs\n"
	"  config --list      every setting with its default and what it does\n"
	"  config --markdown  the same as README.md's table\n"
	"  config --names     every variable read, one a line\n"
	"  backup   copy DB_PATH to DEST while the pool serves (SQLite's backup API),\n"
	"           with the database's mode; --keep N: copies named DEST.<UTC time>,\n"
	"           the newest N kept\n"
	"  restore  replace DB_PATH's content with SRC's in one transaction, while\n"
	"           the pool serves, after checking SRC's integrity and schema\n"
	"           (both: SQLite only, pg_dump for PostgreSQL; --wait: the most\n"
	"           seconds to wait in all for locks other connections hold, 30)\n"
	"\nSettings, read from the environment (empty: the default):\n\n";

static const struct {
	const char *option;
	enum config_listing how;
} listings[] = {
	{ "--list", CONFIG_LIST_TEXT },
	{ "--markdown", CONFIG_LIST_MARKDOWN },
	{ "--names", CONFIG_LIST_NAMES },
};

/*
 * 0 when everything printed to out reached it, else 1 with the cause on
 * stderr (a full disk, a closed pipe with SIGPIPE ignored).  A failed
 * write sets the stream's error flag, so the prints before need no check
 * of their own; fflush sends what is still buffered.
 */
static int output_done(FILE *out)
{
	int flushed = fflush(out) == 0;

	if (flushed && !ferror(out))
		return 0;
	log_warn("writing the output failed: %s",
		 flushed ? "an earlier write failed" : strerror(errno));
	return 1;
}

static int print_usage(FILE *out)
{
	fputs(usage, out);
	config_list(CONFIG_LIST_TEXT, out);
	return output_done(out);
}

/* `config --list` and friends: describe the settings without reading them. */
static int run_listing(const char *option)
{
	for (size_t i = 0; i < sizeof(listings) / sizeof(listings[0]); i++) {
		if (strcmp(option, listings[i].option) == 0) {
			config_list(listings[i].how, stdout);
			return output_done(stdout);
		}
	}
	fprintf(stderr, "sqlite-fcgi: unknown option '%s'\n%s", option, usage);
	return 2;
}

/* What the log says the database is: DB_PATH, or the engine (no URL: it may hold a password). */
static const char *db_label(const struct config *cfg)
{
	return cfg->engine == ENGINE_SQLITE ? cfg->db_path : db_engine_name(cfg);
}

static int run_migrate(const struct config *cfg)
{
	char err[ERR_LEN];
	char about[128];
	struct db *db = NULL;

	if (db_open(cfg, DB_OPEN_MIGRATE, &db, err, sizeof(err)) != DB_OK)
		fatal("migrate: %s", err);
	if (db_migrate(db, err, sizeof(err)) != DB_OK) {
		db_close(db);
		fatal("migrate: %s: %s", db_label(cfg), err);
	}
	if (db_describe(db, about, sizeof(about)) != DB_OK) {
		db_close(db);
		fatal("migrate: %s: reading the schema version failed", db_label(cfg));
	}
	log_info("migrate: %s: %s", db_label(cfg), about);
	db_close(db);
	return 0;
}

static int run_config(const struct config *cfg)
{
	config_print(cfg, stdout);
	printf("\n# what each worker runs on its connection (%s):\n", db_engine_name(cfg));
	db_print_plan(cfg, stdout);
	return output_done(stdout);
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[ERR_LEN];

	log_init("sqlite-fcgi");
	if (db_global_init() != 0)
		fatal("sqlite3_config failed: SQLite was initialised too early,"
		      " or built without thread support (SQLITE_THREADSAFE=0)");
	if (argc >= 2 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0)) {
		if (config_load(&cfg, NULL, err, sizeof(err)) != 0)
			fatal("%s", err);
		return argv[1][0] == 'b' ? backup_main(&cfg, argc - 2, argv + 2)
					 : restore_main(&cfg, argc - 2, argv + 2);
	}
	if (argc == 3 && strcmp(argv[1], "config") == 0)
		return run_listing(argv[2]);
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		return print_usage(stdout);
	if (argc != 2) {
		(void)print_usage(stderr);	/* 2 whether or not it was shown */
		return 2;
	}
	if (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "migrate") != 0 &&
	    strcmp(argv[1], "config") != 0) {
		fprintf(stderr, "sqlite-fcgi: unknown command '%s'\n%s", argv[1], usage);
		return 2;
	}
	if (config_load(&cfg, NULL, err, sizeof(err)) != 0 ||
	    db_check_config(&cfg, err, sizeof(err)) != 0)
		fatal("%s", err);
	if (password_check_settings(cfg.hash_method, cfg.hash_cost, err, sizeof(err)) != 0)
		fatal("%s", err);
	if (strcmp(argv[1], "migrate") == 0)
		return run_migrate(&cfg);
	if (strcmp(argv[1], "config") == 0)
		return run_config(&cfg);
	return server_run(&cfg);
}
