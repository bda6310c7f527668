/*
 * libFuzzer target: an application/json body through the path the service
 * takes: db_json_object_walk (SQLite's json_type and json_each on the
 * worker's prepared statements) calling input_json_member for each member,
 * then input_validate.  The connection is a real one, opened once on a
 * database migrated in a temporary directory, as a worker opens it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db_sqlite.h"
#include "fuzz_check.h"
#include "input.h"

static char dir[64];
static char db_env[128];
static struct db *db;

static const char *fuzz_getenv(const char *name)
{
	return strcmp(name, "DB_PATH") == 0 ? db_env : NULL;
}

static void remove_db(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-writelock" };
	char path[200];

	db_close(db);
	db = NULL;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db_env, suffixes[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_json: %s: %s\n", what, err);
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config cfg;
	char err[DB_ERR_LEN];
	struct db *m = NULL;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/sqlite-fcgi-fuzz-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", dir);
	snprintf(db_env, sizeof(db_env), "%s/db.sqlite3", dir);
	atexit(remove_db);
	if (config_load(&cfg, fuzz_getenv, err, sizeof(err)) != 0)
		die("config", err);
	if (db_open(&cfg, DB_OPEN_MIGRATE, &m, err, sizeof(err)) != DB_OK)
		die("db_open (migrate)", err);
	if (db_migrate(m, err, sizeof(err)) != DB_OK)
		die("db_migrate", err);
	db_close(m);
	if (db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK)
		die("db_open (serve)", err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct user_input in;
	char err[INPUT_ERR_LEN];
	enum db_result res;

	input_init(&in);
	db_clear_error(db);
	memset(err, 'x', sizeof(err));
	res = db_json_object_walk(db, (const char *)data, size, input_json_member,
				  &in, err, sizeof(err));
	if (res == DB_INVALID) {
		fuzz_check_message(err, sizeof(err));
	} else if (res != DB_OK) {
		/* Anything else is a database failure: never for a client's bytes. */
		fprintf(stderr, "fuzz_json: database failure %d: %s\n",
			db_errcode(db), db_errmsg(db));
		abort();
	} else {
		fuzz_check_parsed(&in);
	}
	input_wipe(&in);
	return 0;
}
