#ifndef SQLITE_FCGI_DB_PG_CONN_H
#define SQLITE_FCGI_DB_PG_CONN_H

#include <libpq-fe.h>
#include <stdint.h>

#include "db_engine.h"

/*
 * The inside of the PostgreSQL engine, shared by its files only.  Each
 * calls only the ones below it:
 *   db_pg.c         the ops table and the request path's operations
 *   db_pg_schema.c  migrate, describe
 *   db_pg_open.c    DATABASE_URL checked, connecting, settings, prepare
 *   db_pg_exec.c    running SQL, errors mapped to db_result, rollback
 *   db_pg_wait.c    every wait for the server, bounded by DB_DEADLINE_MS
 *   db_pg_stmt.c    the prepared statements' text
 *   db_pg_mask.c    DATABASE_URL without its secrets
 */

#define PG_SCHEMA_VERSION 2
/* The constraint Django's migration names for the unique username. */
#define USERNAME_UNIQUE "auth_user_username_key"

/* The statements a worker prepares once per connection (PQprepare). */
enum pg_stmt {
	PG_RECENT, PG_INSERT, PG_COUNT, PG_PAGE,
	PG_ROWS_READ, PG_ROW_INSERT,	/* the matrix */
	PG_NSTMT
};

struct pg_stmt_def {
	const char *name;
	const char *sql;
	int nparams;
};
extern const struct pg_stmt_def pg_stmts[PG_NSTMT];

struct db_pg {
	struct db base;		/* first: see db_engine.h */
	PGconn *conn;
	const struct config *cfg;	/* to connect again; outlives the connection */
	enum db_open_mode mode;
	bool broken;		/* the connection was lost: reopen it */
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC: the request's waits end then */
	bool deadline_kept;	/* set by the caller (pg_deadline_from): keep it */
	bool deadline_passed;	/* the last wait ended at the deadline */
	long connect_budget_ms;	/* connect_timeout x hosts: one whole connect */
	bool reads_only;	/* the open transaction began to read only */
	bool warned;		/* the server sent a WARNING since cleared */
	char warning[160];
};

static inline struct db_pg *pg(struct db *db)
{
	return (struct db_pg *)db;
}

/*
 * Connects p->conn as cfg says, applies the session settings and, in
 * DB_OPEN_SERVE mode, checks the schema version and prepares pg_stmts.
 * On failure p->conn may be left open (pg_disconnect it) and err says why.
 */
enum db_result pg_connect(struct db_pg *p, char *err, size_t errlen);
/* How long one connect may take: the connect timeout times the URL's hosts. */
long pg_connect_budget_ms(const struct config *cfg);
void pg_disconnect(struct db_pg *p);
/* The engine's open and close (db_engine.h). */
enum db_result pg_open(struct db *db, const struct config *cfg,
		       enum db_open_mode mode, char *err, size_t errlen);
void pg_close(struct db *db);

/*
 * Records the failure of res (NULL: of the connection itself) in p->base,
 * maps its SQLSTATE to a db_result, marks p broken when the connection is
 * gone, and PQclears res.
 */
enum db_result pg_fail(struct db_pg *p, PGresult *res);
/* Records a failure of this engine's own finding (state: a SQLSTATE). */
void pg_record(struct db_pg *p, enum db_result res, const char *state,
	       const char *msg);
/* DB_OK when res has the status wanted (and PQclears it); otherwise pg_fail. */
enum db_result pg_check(struct db_pg *p, PGresult *res, ExecStatusType want);
/* Runs the prepared statement st with params (NULL when it takes none). */
PGresult *pg_run_prepared(struct db_pg *p, enum pg_stmt st, const char *const *params);
/* Runs sql (no parameters, no rows wanted); DB_OK or pg_fail's answer. */
enum db_result pg_exec(struct db_pg *p, const char *sql);
/*
 * Rolls back the open transaction, if any.  The caller is reporting the
 * error that made it roll back: a failed ROLLBACK is logged, not recorded,
 * so that db_errmsg and db_needs_reopen still answer for that error.
 */
void pg_rollback_tx(struct db_pg *p);
/* Runs a one-row, one-column query and copies its value. */
enum db_result pg_query_text(struct db_pg *p, const char *sql, char *out,
			     size_t outlen);

/*
 * The deadline (DB_DEADLINE_MS, less a reserve for the answer) of what
 * follows.  pg_deadline_from sets it from the request's start, for all of
 * the request; pg_deadline_start_request, called where a transaction or an
 * autocommit statement begins, keeps that one or (none set: the command
 * line) starts one from now; pg_deadline_start always starts one from now
 * (none for migrate).  Every pg_run_* waits until it at most.
 */
void pg_deadline_from(struct db_pg *p, uint64_t start_ns);
void pg_deadline_start_request(struct db_pg *p);
void pg_deadline_start(struct db_pg *p);
long pg_deadline_left_ms(const struct db_pg *p);
/*
 * PQexec, PQexecParams, PQexecPrepared (by statement name) and PQprepare,
 * bounded by the deadline: NULL when the connection failed
 * (PQerrorMessage), is broken, or the deadline passed (then
 * p->deadline_passed and p->broken are set).
 */
PGresult *pg_run_sql(struct db_pg *p, const char *sql);
PGresult *pg_run_params(struct db_pg *p, const char *sql, int nparams,
			const char *const *params);
PGresult *pg_run_named(struct db_pg *p, const char *name, int nparams,
		       const char *const *params);
PGresult *pg_run_prepare(struct db_pg *p, const char *name, const char *sql, int nparams);
/* The notice receiver (PQsetNoticeReceiver, arg p): remembers a WARNING. */
void pg_notice_received(void *arg, const PGresult *res);

/* A secret of DATABASE_URL (password, sslpassword): never printed (db_pg_mask.c). */
bool pg_option_is_secret(const PQconninfoOption *o);
/* PQconninfoFree, the secret values wiped first; NULL is a no-op. */
void pg_conninfo_free(PQconninfoOption *opts);

int pg_check_config(const struct config *cfg, char *err, size_t errlen);
void pg_print_plan(const struct config *cfg, FILE *out);
enum db_result pg_migrate(struct db *db, char *err, size_t errlen);
enum db_result pg_describe(struct db *db, char *out, size_t outlen);

#endif
