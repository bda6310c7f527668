#ifndef SQLITE_FCGI_DB_ENGINE_H
#define SQLITE_FCGI_DB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "db_types.h"
#include "err.h"

/*
 * What an engine provides to db.c, and the part of a connection all
 * engines share.  Only db.c, the engine table (db_engines.c) and the
 * engines' files include this.  An operation named like a db_* function
 * has that function's contract (db.h).
 *
 * A new engine: its files (db_X.c with the table below, and the parts it
 * calls), one line in db_engines.c, and a value of enum config_engine.
 */

struct db_ops {
	const char *name;	/* "sqlite": db_engine_name */
	/* The engine's connection struct, whose first member is struct db. */
	size_t conn_size;

	/*
	 * The process and its configuration, without a connection.  Each may
	 * be NULL: the engine has nothing to do there (db.c answers 0, -1, or
	 * nothing, as each says).
	 */
	int (*global_init)(void);	/* once per process, before anything else */
	int (*check_config)(const struct config *cfg, char *err, size_t errlen);
	int (*refusal)(const struct config *cfg, char *msg, size_t msglen);
	void (*print_plan)(const struct config *cfg, FILE *out);
	/* DATABASE_URL printed without its secrets (NULL: printed as empty). */
	void (*mask_url)(const char *url, char *out, size_t outlen);
	/* The size of the engine's write-ahead log now (NULL: -1, none). */
	long long (*wal_bytes)(const struct config *cfg);
	/* The db_errname()s that mean "busy", NULL-terminated; for /metrics. */
	const char *const *busy_names;
	/*
	 * Online backup and restore (sqlite-fcgi backup, restore): 0, or -1
	 * with err.  NULL when the engine has its own tools: no_backup then
	 * says which, for the refusal.
	 */
	int (*backup_to)(const struct config *cfg, const char *dest, int wait_ms,
			 char *err, size_t errlen);
	int (*restore_from)(const struct config *cfg, const char *src, int wait_ms,
			    char *err, size_t errlen);
	const char *no_backup;

	/*
	 * One connection.  db.c allocates conn_size zeroed bytes and sets
	 * ->ops; open fills the rest.  On failure open leaves nothing open
	 * and db.c frees the memory; close releases what open took, and
	 * db.c frees the memory after it.
	 */
	enum db_result (*open)(struct db *db, const struct config *cfg,
			       enum db_open_mode mode, char *err, size_t errlen);
	void (*close)(struct db *db);
	enum db_result (*migrate)(struct db *db, char *err, size_t errlen);
	enum db_result (*describe)(struct db *db, char *out, size_t outlen);
	enum db_result (*ping)(struct db *db);
	enum db_reopen (*needs_reopen)(const struct db *db);
	/*
	 * Whether a connection opened for writing came up read-only (SQLite:
	 * the file or its directory was not writable then).  It stays so
	 * after the fault is gone.  NULL: never.
	 */
	bool (*opened_read_only)(const struct db *db);
	/* db_deadline_from; NULL: the engine bounds its waits otherwise. */
	void (*deadline_from)(struct db *db, uint64_t start_ns);

	/*
	 * Transactions; savepoint: one request's scope inside a shared
	 * transaction (SAVEPOINT, RELEASE, ROLLBACK TO: group commit, commit.c).
	 */
	enum db_result (*begin_as)(struct db *db, enum db_begin how);
	enum db_result (*commit)(struct db *db);
	void (*rollback)(struct db *db);
	enum db_result (*savepoint)(struct db *db, enum db_savepoint step);

	/* The queries of the request path: users.c, users_list.c, rows.c. */
	enum db_result (*users_read_recent)(struct db *db, int *nread);
	enum db_result (*user_insert)(struct db *db, const char *username,
				      const char *email, const char *password_hash);
	enum db_result (*user_count)(struct db *db, long long *count);
	enum db_result (*users_page)(struct db *db, long long before_id, int limit,
				     struct db_user_row *rows, int *nrows,
				     long long *count);
	enum db_result (*rows_read)(struct db *db, int *nread);
	enum db_result (*row_insert)(struct db *db, const struct db_row *row,
				     long long *id);
};

/* The engine table (db_engines.c): which ops serve which enum config_engine. */
struct db_engine {
	enum config_engine engine;
	const struct db_ops *ops;
};
extern const struct db_engine db_engines[];
extern const size_t db_nengines;

#define DB_ERRNAME_LEN 40

/*
 * The first member of every engine's connection struct, so that a
 * struct db * and the engine's own pointer convert into each other.
 */
struct db {
	const struct db_ops *ops;
	uint64_t request_start_ns;	/* db_open_at's start_ns, for open; 0: none */
	int last_code;			/* the engine's code; 0: no failure */
	char last_name[DB_ERRNAME_LEN];	/* the code's name, for logs */
	char last_msg[ERR_LEN];
};

/*
 * Records a failure (code, its name, and a printf-style message) and
 * returns res, so that an engine can write `return db_fail_with(...)`.
 */
enum db_result db_fail_with(struct db *db, enum db_result res, int code,
			    const char *name, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
