#include "db_sqlite_conn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writelock.h"

/*
 * Opening a SQLite connection: the settings of the profile applied and read
 * back, the WAL checkpoints, the statements prepared, the write lock file.
 */

/*
 * WAL checkpoints.  SQLite's autocheckpoint (PASSIVE, every 1000 pages)
 * copies pages back into the database but never makes the WAL smaller
 * while other workers keep writing: under sustained writes it grew past
 * 170 MiB in make bench.  So the WAL hook does the PASSIVE checkpoint every
 * 1000 pages as SQLite would, and once the WAL passes WAL_TRUNCATE_PAGES a
 * TRUNCATE checkpoint, which empties the file if it can get the write lock
 * and see no reader within WAL_TRUNCATE_WAIT_MS, at most once a second per
 * connection: a long reader (a backup, a report) must not make every
 * commit wait.
 * journal_size_limit trims what is left after a reset.
 */
#define WAL_AUTOCHECKPOINT_PAGES 1000
#define WAL_TRUNCATE_PAGES 4096
#define WAL_TRUNCATE_WAIT_MS 20
#define JOURNAL_SIZE_LIMIT_BYTES 67108864	/* 64 MiB, a literal for STR() */

/*
 * SQLITE_CHECKPOINTS=external: no worker checkpoints, so that the program
 * that does (Litestream) copies every frame of the WAL before it goes back
 * into the database, as Litestream's tips ask: no WAL hook, SQLite's
 * autocheckpoint off, and no checkpoint when a worker's connection is the
 * last one to close.
 */
static const char no_checkpoint_sql[] = "PRAGMA wal_autocheckpoint = 0";

static const char *journal_sql(enum config_journal j)
{
	switch (j) {
	case JOURNAL_DELETE: return "PRAGMA journal_mode = delete";
	case JOURNAL_TRUNCATE: return "PRAGMA journal_mode = truncate";
	case JOURNAL_PERSIST: return "PRAGMA journal_mode = persist";
	case JOURNAL_WAL: return "PRAGMA journal_mode = wal";
	}
	return "PRAGMA journal_mode = delete";
}

static const char *sync_sql(enum config_sync s)
{
	switch (s) {
	case SYNC_OFF: return "PRAGMA synchronous = off";
	case SYNC_NORMAL: return "PRAGMA synchronous = normal";
	case SYNC_FULL: return "PRAGMA synchronous = full";
	case SYNC_EXTRA: return "PRAGMA synchronous = extra";
	}
	return "PRAGMA synchronous = full";
}

void sq_print_plan(const struct config *cfg, FILE *out)
{
	fprintf(out, "sqlite3_busy_timeout(db, %ld);\n", cfg->busy_timeout_ms);
	fprintf(out, "%s;\n", journal_sql(cfg->journal));
	fprintf(out, "%s;\n", sync_sql(cfg->sync));
	if (cfg->journal == JOURNAL_WAL)
		fprintf(out, "PRAGMA journal_size_limit = %d;\n", JOURNAL_SIZE_LIMIT_BYTES);
	if (cfg->journal == JOURNAL_WAL && cfg->checkpoints == CHECKPOINTS_APP)
		fprintf(out, "sqlite3_wal_hook(db, ...);  -- after a commit: PASSIVE checkpoint from %d"
			" WAL pages, TRUNCATE from %d\n", WAL_AUTOCHECKPOINT_PAGES, WAL_TRUNCATE_PAGES);
	if (cfg->journal == JOURNAL_WAL && cfg->checkpoints == CHECKPOINTS_EXTERNAL)
		fprintf(out, "%s;  -- no checkpoint after a commit\n"
			"sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);"
			"  -- nor when the last connection closes\n", no_checkpoint_sql);
	if (cfg->lock_wait == LOCK_WAIT_FLOCK && cfg->txn == TXN_IMMEDIATE)
		fprintf(out, "flock(\"%s%s\", LOCK_EX);  -- before each BEGIN IMMEDIATE and each"
			" write outside a transaction, released after COMMIT/ROLLBACK\n",
			cfg->db_path, CONFIG_WRITELOCK_SUFFIX);
	fprintf(out, "%s;  -- each /create_user/ transaction, password hashed %s\n",
		sq_begin_sql(cfg->txn),
		cfg->hash_when == HASH_BEFORE_BEGIN ? "before BEGIN"
						     : "inside the transaction");
	fprintf(out, "%s;  -- the matrix's transaction.atomic that writes (docs/matrix.md);"
		" one that only reads: BEGIN DEFERRED; read_write_transaction_immediate/:"
		" BEGIN IMMEDIATE; the others: autocommit\n", sq_begin_sql(cfg->txn));
}


#define STR_(x) #x
#define STR(x) STR_(x)
static const char wal_sql[] =
	"PRAGMA journal_size_limit = " STR(JOURNAL_SIZE_LIMIT_BYTES) ";";

enum db_result db_sqlite_read_pragmas(struct db *db, struct db_pragmas *out)
{
	struct db_sqlite *s = sq(db);
	struct db_pragmas p;
	enum db_result res;

	if ((res = sq_query_text(s, "PRAGMA journal_mode", p.journal_mode,
				 sizeof(p.journal_mode))) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA synchronous", &p.synchronous)) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA busy_timeout", &p.busy_timeout_ms)) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA user_version", &p.schema_version)) != DB_OK)
		return res;
	*out = p;
	return DB_OK;
}

/* Runs after every commit in WAL mode, in the committing worker. */
static int wal_hook(void *ctx, sqlite3 *conn, const char *name, int pages)
{
	struct db_sqlite *s = ctx;
	int rc;

	if (pages < WAL_AUTOCHECKPOINT_PAGES)
		return SQLITE_OK;
	if (pages < WAL_TRUNCATE_PAGES || time(NULL) == s->last_truncate) {
		rc = sqlite3_wal_checkpoint_v2(conn, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else {
		s->last_truncate = time(NULL);
		sq_set_busy_timeout(conn, WAL_TRUNCATE_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(conn, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sq_set_busy_timeout(conn, s->busy_timeout_ms);
	}
	/* Busy only means "not this time": the next commit tries again. */
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
		log_warn("wal checkpoint: %s (%d)", sqlite3_errstr(rc), rc);
	/* Not rc: the commit is done, and an error here would make it look failed. */
	return SQLITE_OK;
}

/* Turns every checkpoint of this connection off, and reads it back. */
static int leave_checkpoints(struct db_sqlite *s)
{
	int off = 0, pages = -1, rc;

	if (sq_exec(s, no_checkpoint_sql) != DB_OK ||
	    sq_query_int(s, "PRAGMA wal_autocheckpoint", &pages) != DB_OK)
		return -1;
	rc = sqlite3_db_config(s->conn, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &off);
	if (rc != SQLITE_OK || pages != 0 || off != 1) {
		snprintf(s->base.last_msg, sizeof(s->base.last_msg),
			 "checkpoints still on: wal_autocheckpoint=%d no_ckpt_on_close=%d (%s)",
			 pages, off, sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

static int set_wal_checkpoints(struct db_sqlite *s, enum config_checkpoints who)
{
	if (sq_exec(s, wal_sql) != DB_OK)
		return -1;
	if (who == CHECKPOINTS_EXTERNAL)
		return leave_checkpoints(s);
	/* Returns the previous hook's argument (none), not a result code. */
	(void)sqlite3_wal_hook(s->conn, wal_hook, s);
	return 0;
}

/* Applies the settings, then reads them back: SQLite ignores some silently. */
static int apply_settings(struct db_sqlite *s, const struct config *cfg, char *err,
			  size_t errlen)
{
	struct db_pragmas p;
	char mode[16];

	s->busy_timeout_ms = (int)cfg->busy_timeout_ms;
	if (sqlite3_busy_timeout(s->conn, s->busy_timeout_ms) != SQLITE_OK ||
	    sq_query_text(s, journal_sql(cfg->journal), mode, sizeof(mode)) != DB_OK ||
	    sq_exec(s, sync_sql(cfg->sync)) != DB_OK ||
	    (cfg->journal == JOURNAL_WAL && set_wal_checkpoints(s, cfg->checkpoints) != 0) ||
	    db_sqlite_read_pragmas(&s->base, &p) != DB_OK) {
		snprintf(err, errlen, "%s: applying settings: %s", cfg->db_path,
			 s->base.last_msg);
		return -1;
	}
	if (strcmp(p.journal_mode, config_journal_name(cfg->journal)) != 0 ||
	    p.synchronous != (int)cfg->sync ||
	    p.busy_timeout_ms != (int)cfg->busy_timeout_ms) {
		snprintf(err, errlen, "%s: SQLite did not apply the settings:"
			 " journal_mode=%s synchronous=%d busy_timeout=%d",
			 cfg->db_path, p.journal_mode, p.synchronous,
			 p.busy_timeout_ms);
		return -1;
	}
	return 0;
}

static int check_schema(struct db_sqlite *s, const struct config *cfg, char *err,
			size_t errlen)
{
	int version;

	if (sq_query_int(s, "PRAGMA user_version", &version) != DB_OK) {
		snprintf(err, errlen, "%s: %s", cfg->db_path, s->base.last_msg);
		return -1;
	}
	if (version != DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d, expected %d:"
			 " run 'sqlite-fcgi migrate'", cfg->db_path, version,
			 DB_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

static int open_conn(struct db_sqlite *s, const struct config *cfg,
		     enum db_open_mode mode, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc;

	if (mode == DB_OPEN_MIGRATE)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(cfg->db_path, &s->conn, flags, NULL);
	/* Extended codes: username_taken() tells SQLITE_CONSTRAINT_UNIQUE apart. */
	if (rc == SQLITE_OK)
		rc = sqlite3_extended_result_codes(s->conn, 1);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s%s", cfg->db_path,
			 s->conn ? sqlite3_errmsg(s->conn) : sqlite3_errstr(rc),
			 mode == DB_OPEN_SERVE ? " (run 'sqlite-fcgi migrate' first)" : "");
		return -1;
	}
	return 0;
}

/*
 * The lock file only makes waiting faster; SQLite's own locking keeps the
 * data right.  So a lock file that cannot be opened (a read-only directory)
 * costs the fast wait, not the service.
 */
static void open_writelock(struct db_sqlite *s, const struct config *cfg)
{
	char path[CONFIG_PATH_MAX + sizeof(CONFIG_WRITELOCK_SUFFIX)], err[ERR_LEN];

	/* A deferred BEGIN takes no write lock, so it queues for none. */
	if (cfg->lock_wait != LOCK_WAIT_FLOCK || cfg->txn != TXN_IMMEDIATE)
		return;
	snprintf(path, sizeof(path), "%s%s", cfg->db_path, CONFIG_WRITELOCK_SUFFIX);
	if (writelock_open(path, cfg->busy_timeout_ms, &s->wl, err, sizeof(err)) != 0)
		log_warn("waiting with SQLite's busy handler: no write lock file: %s", err);
}

enum db_result sq_open(struct db *db, const struct config *cfg,
		       enum db_open_mode mode, char *err, size_t errlen)
{
	struct db_sqlite *s = sq(db);

	snprintf(s->db_path, sizeof(s->db_path), "%s", cfg->db_path);
	/* Before the open: opening a replaced file pairs it with the old WAL. */
	if (sq_file_before_open(cfg, mode, err, errlen) != 0)
		return DB_ERR;
	if (open_conn(s, cfg, mode, err, errlen) != 0 ||
	    apply_settings(s, cfg, err, errlen) != 0 ||
	    sq_file_adopt(s, cfg, err, errlen) != 0)
		goto fail;
	if (mode == DB_OPEN_SERVE &&
	    (check_schema(s, cfg, err, errlen) != 0 ||
	     sq_prepare_all(s, cfg, err, errlen) != 0))
		goto fail;
	if (mode == DB_OPEN_SERVE)
		open_writelock(s, cfg);
	return DB_OK;
fail:
	/* sqlite3_open_v2 hands out a handle even on failure: close it too. */
	sq_close(db);
	return DB_ERR;
}

/* Releases what sq_open took; db.c frees the struct. */
void sq_close(struct db *db)
{
	struct db_sqlite *s = sq(db);

	sq_file_before_close(s);
	for (int i = 0; i < DB_NSTMT; i++)
		sq_finalize(s->stmt[i]);
	sq_close_conn(s->conn);
	s->conn = NULL;
	writelock_close(s->wl);
	s->wl = NULL;
}
