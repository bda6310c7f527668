#ifndef SQLITE_FCGI_DB_ENGINE_H
#define SQLITE_FCGI_DB_ENGINE_H

#include "db.h"

/*
 * What an engine provides to db.c, and the part of a connection all
 * engines share.  Only db.c and the engines' files include this.  Each
 * operation has the contract of the db_* function of the same name (db.h).
 */

struct db_ops {
	const char *name;	/* "sqlite" */
	/* NULL when the engine has nothing to check beyond config.c. */
	int (*check_config)(const struct config *cfg, char *err, size_t errlen);
	enum db_result (*open)(const struct config *cfg, enum db_open_mode mode,
			       struct db **out, char *err, size_t errlen);
	void (*close)(struct db *db);
	enum db_result (*migrate)(struct db *db, char *err, size_t errlen);
	void (*print_plan)(const struct config *cfg, FILE *out);
	enum db_result (*describe)(struct db *db, char *out, size_t outlen);
	enum db_result (*begin_as)(struct db *db, enum db_begin how);
	enum db_result (*commit)(struct db *db);
	void (*rollback)(struct db *db);
	enum db_result (*savepoint)(struct db *db, enum db_savepoint step);
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
	enum db_result (*ping)(struct db *db);
	enum db_reopen (*needs_reopen)(const struct db *db);
	/* NULL when the engine never refuses to serve. */
	int (*refusal)(const struct config *cfg, char *msg, size_t msglen);
};

#define DB_ERRNAME_LEN 40

/*
 * The first member of every engine's connection struct, so that a
 * struct db * and the engine's own pointer convert into each other.
 */
struct db {
	const struct db_ops *ops;
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

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

/* The SQLite engine's part of db_global_init. */
int db_sqlite_global_init(void);

#endif
