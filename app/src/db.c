#include "db.h"

#include "db_engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * The interface of db.h, forwarded to the engine a connection belongs to.
 * No engine's library is included here.
 */

/* The engine the configuration names (config.c accepts no other). */
static const struct db_ops *engine_for(const struct config *cfg)
{
	for (size_t i = 0; i < db_nengines; i++)
		if (db_engines[i].engine == cfg->engine)
			return db_engines[i].ops;
	return db_engines[0].ops;
}

int db_check_config(const struct config *cfg, char *err, size_t errlen)
{
	const struct db_ops *ops = engine_for(cfg);

	return ops->check_config != NULL ? ops->check_config(cfg, err, errlen) : 0;
}

const char *db_engine_name(const struct config *cfg)
{
	return engine_for(cfg)->name;
}

int db_global_init(void)
{
	for (size_t i = 0; i < db_nengines; i++)
		if (db_engines[i].ops->global_init != NULL &&
		    db_engines[i].ops->global_init() != 0)
			return -1;
	return 0;
}

enum db_result db_open(const struct config *cfg, enum db_open_mode mode,
		       struct db **out, char *err, size_t errlen)
{
	return db_open_at(cfg, mode, 0, out, err, errlen);
}

enum db_result db_open_at(const struct config *cfg, enum db_open_mode mode,
			  uint64_t start_ns, struct db **out, char *err, size_t errlen)
{
	enum db_result res;
	const struct db_ops *ops = engine_for(cfg);
	struct db *db = calloc(1, ops->conn_size);

	if (db == NULL) {
		snprintf(err, errlen, "out of memory");
		return DB_ERR;
	}
	db->ops = ops;
	db->request_start_ns = start_ns;
	if ((res = ops->open(db, cfg, mode, err, errlen)) != DB_OK) {
		free(db);
		return res == DB_BUSY ? DB_BUSY : DB_ERR;
	}
	*out = db;
	return DB_OK;
}

int db_refusal(const struct config *cfg, char *msg, size_t msglen)
{
	const struct db_ops *ops = engine_for(cfg);

	return ops->refusal != NULL ? ops->refusal(cfg, msg, msglen) : 0;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	db->ops->close(db);
	free(db);
}

enum db_result db_migrate(struct db *db, char *err, size_t errlen)
{
	return db->ops->migrate(db, err, errlen);
}

void db_print_plan(const struct config *cfg, FILE *out)
{
	engine_for(cfg)->print_plan(cfg, out);
}

void db_mask_url(const struct config *cfg, char *out, size_t outlen)
{
	const struct db_ops *ops = engine_for(cfg);

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (ops->mask_url != NULL && cfg->database_url[0] != '\0')
		ops->mask_url(cfg->database_url, out, outlen);
}

long long db_wal_bytes(const struct config *cfg)
{
	const struct db_ops *ops = engine_for(cfg);

	return ops->wal_bytes != NULL ? ops->wal_bytes(cfg) : -1;
}

size_t db_busy_names(const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < db_nengines; i++)
		for (const char *const *name = db_engines[i].ops->busy_names;
		     name != NULL && *name != NULL && n < max; name++)
			out[n++] = *name;
	return n;
}

int db_backup_refusal(const struct config *cfg, char *msg, size_t msglen)
{
	const struct db_ops *ops = engine_for(cfg);

	if (ops->backup_to != NULL)
		return 0;
	snprintf(msg, msglen, "%s", ops->no_backup);
	return -1;
}

int db_backup_to(const struct config *cfg, const char *dest, int wait_ms,
		 char *err, size_t errlen)
{
	return engine_for(cfg)->backup_to(cfg, dest, wait_ms, err, errlen);
}

int db_restore_from(const struct config *cfg, const char *src, int wait_ms,
		    char *err, size_t errlen)
{
	return engine_for(cfg)->restore_from(cfg, src, wait_ms, err, errlen);
}

enum db_result db_describe(struct db *db, char *out, size_t outlen)
{
	return db->ops->describe(db, out, outlen);
}

enum db_result db_begin(struct db *db)
{
	return db->ops->begin_as(db, DB_BEGIN_CONFIGURED);
}

enum db_result db_begin_as(struct db *db, enum db_begin how)
{
	return db->ops->begin_as(db, how);
}

enum db_result db_commit(struct db *db)
{
	return db->ops->commit(db);
}

void db_rollback(struct db *db)
{
	db->ops->rollback(db);
}

enum db_result db_savepoint(struct db *db, enum db_savepoint step)
{
	return db->ops->savepoint(db, step);
}

enum db_result db_users_read_recent(struct db *db, int *nread)
{
	return db->ops->users_read_recent(db, nread);
}

enum db_result db_user_insert(struct db *db, const char *username,
			      const char *email, const char *password_hash)
{
	return db->ops->user_insert(db, username, email, password_hash);
}

enum db_result db_user_count(struct db *db, long long *count)
{
	return db->ops->user_count(db, count);
}

enum db_result db_users_page(struct db *db, long long before_id, int limit,
			     struct db_user_row *rows, int *nrows, long long *count)
{
	return db->ops->users_page(db, before_id, limit, rows, nrows, count);
}

enum db_result db_rows_read(struct db *db, int *nread)
{
	return db->ops->rows_read(db, nread);
}

enum db_result db_row_insert(struct db *db, const struct db_row *row, long long *id)
{
	return db->ops->row_insert(db, row, id);
}

enum db_result db_ping(struct db *db)
{
	return db->ops->ping(db);
}

enum db_reopen db_needs_reopen(const struct db *db)
{
	return db->ops->needs_reopen(db);
}

bool db_opened_read_only(const struct db *db)
{
	return db->ops->opened_read_only != NULL && db->ops->opened_read_only(db);
}

void db_deadline_from(struct db *db, uint64_t start_ns)
{
	if (db->ops->deadline_from != NULL)
		db->ops->deadline_from(db, start_ns);
}

enum db_result db_fail_with(struct db *db, enum db_result res, int code,
			    const char *name, const char *fmt, ...)
{
	va_list ap;

	db->last_code = code;
	snprintf(db->last_name, sizeof(db->last_name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(db->last_msg, sizeof(db->last_msg), fmt, ap);
	va_end(ap);
	return res;
}

void db_clear_error(struct db *db)
{
	db->last_code = 0;
	db->last_name[0] = '\0';
	db->last_msg[0] = '\0';
}

int db_errcode(const struct db *db)
{
	return db->last_code;
}

const char *db_errname(const struct db *db)
{
	return db->last_name[0] != '\0' ? db->last_name : "OK";
}

const char *db_errmsg(const struct db *db)
{
	return db->last_msg;
}

void db_failure_set(struct db_failure *f, enum db_result res, const char *step,
		    const struct db *db)
{
	f->res = res;
	f->step = step;
	f->code = db != NULL ? db_errcode(db) : 0;
	snprintf(f->name, sizeof(f->name), "%s", db != NULL ? db_errname(db) : "OK");
	snprintf(f->msg, sizeof(f->msg), "%s", db != NULL ? db_errmsg(db)
		 : "database unavailable");
}
