#include "db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "writelock.h"

enum db_stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_RECENT, ST_INSERT, ST_COUNT,
	ST_PING, ST_JSON_TYPE, ST_JSON_EACH, DB_NSTMT
};

static const char *const stmt_sql[DB_NSTMT] = {
	[ST_BEGIN] = NULL,	/* depends on SQLITE_TXN: see begin_sql() */
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* The seed view reads whole rows: User.objects.all()[:10]. */
	[ST_RECENT] = "SELECT id, password, last_login, is_superuser, username,"
		      " last_name, email, is_staff, is_active, date_joined,"
		      " first_name FROM auth_user LIMIT 10",
	/* The values Django's create_user() stores. */
	[ST_INSERT] = "INSERT INTO auth_user (password, last_login, is_superuser,"
		      " username, last_name, email, is_staff, is_active,"
		      " date_joined, first_name) VALUES (?1, NULL, 0, ?2, '', ?3,"
		      " 0, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), '')",
	[ST_COUNT] = "SELECT n FROM sqlitefcgi_user_count WHERE id = 1",
	[ST_PING] = "SELECT 1",
	[ST_JSON_TYPE] = "SELECT json_type(?1)",
	[ST_JSON_EACH] = "SELECT key, type, value FROM json_each(?1)",
};

/* Django's auth_user, column for column as its migrate creates it on SQLite. */
static const char schema_v1[] =
	"CREATE TABLE \"auth_user\" ("
	"\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "
	"\"password\" varchar(128) NOT NULL, "
	"\"last_login\" datetime NULL, "
	"\"is_superuser\" bool NOT NULL, "
	"\"username\" varchar(150) NOT NULL UNIQUE, "
	"\"last_name\" varchar(150) NOT NULL, "
	"\"email\" varchar(254) NOT NULL, "
	"\"is_staff\" bool NOT NULL, "
	"\"is_active\" bool NOT NULL, "
	"\"date_joined\" datetime NOT NULL, "
	"\"first_name\" varchar(150) NOT NULL);"
	"PRAGMA user_version = 1;";

/*
 * The number of users, kept by triggers.  The seed view counts the users in
 * every creation, inside the write transaction; COUNT(*) reads the whole
 * smallest index, which takes 13-16 ms at a million users, and so would cap
 * all creations at about 70 a second.  The triggers also count the rows
 * that Django itself inserts or deletes, so the number stays right.  (Names
 * starting with "sqlite_" are SQLite's own, hence "sqlitefcgi_".)
 */
static const char schema_v2[] =
	"CREATE TABLE \"sqlitefcgi_user_count\" ("
	"\"id\" integer NOT NULL PRIMARY KEY CHECK (\"id\" = 1), "
	"\"n\" integer NOT NULL);"
	"INSERT INTO sqlitefcgi_user_count (id, n) SELECT 1, COUNT(*) FROM auth_user;"
	"CREATE TRIGGER sqlitefcgi_user_count_insert AFTER INSERT ON auth_user"
	" BEGIN UPDATE sqlitefcgi_user_count SET n = n + 1 WHERE id = 1; END;"
	"CREATE TRIGGER sqlitefcgi_user_count_delete AFTER DELETE ON auth_user"
	" BEGIN UPDATE sqlitefcgi_user_count SET n = n - 1 WHERE id = 1; END;"
	"PRAGMA user_version = 2;";

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

struct db {
	sqlite3 *conn;
	int busy_timeout_ms;
	time_t last_truncate;	/* when this connection last tried a TRUNCATE */
	struct writelock *wl;	/* NULL unless WRITE_LOCK_WAIT=flock */
	sqlite3_stmt *stmt[DB_NSTMT];
	int last_rc;
	char last_msg[DB_ERR_LEN];
};

/*
 * The wiping allocator: malloc with the block's size stored in front, so
 * that xFree knows how much to wipe.  16 bytes keep the alignment malloc
 * gives.
 */
#define WIPE_HEADER 16

static void *wipe_malloc(int n)
{
	unsigned char *p = malloc((size_t)n + WIPE_HEADER);

	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HEADER;
}

static int wipe_size(void *block)
{
	int n;

	memcpy(&n, (unsigned char *)block - WIPE_HEADER, sizeof(n));
	return n;
}

static void wipe_free(void *block)
{
	if (block == NULL)
		return;
	explicit_bzero(block, (size_t)wipe_size(block));
	free((unsigned char *)block - WIPE_HEADER);
}

/* Never realloc() in place: the old block must be wiped before it is freed. */
static void *wipe_realloc(void *block, int n)
{
	void *fresh = wipe_malloc(n);
	int old = wipe_size(block);

	if (fresh == NULL)
		return NULL;
	memcpy(fresh, block, (size_t)(old < n ? old : n));
	wipe_free(block);
	return fresh;
}

static int wipe_roundup(int n)
{
	return (n + 7) & ~7;
}

static int wipe_init(void *unused)
{
	(void)unused;
	return SQLITE_OK;
}

static void wipe_shutdown(void *unused)
{
	(void)unused;
}

int db_global_init(void)
{
	static const sqlite3_mem_methods wiping = {
		wipe_malloc, wipe_free, wipe_realloc, wipe_size, wipe_roundup,
		wipe_init, wipe_shutdown, NULL
	};

	return sqlite3_config(SQLITE_CONFIG_MALLOC, &wiping) == SQLITE_OK ? 0 : -1;
}

static const char *begin_sql(enum config_txn txn)
{
	return txn == TXN_IMMEDIATE ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED";
}

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

void db_print_plan(const struct config *cfg, FILE *out)
{
	fprintf(out, "sqlite3_busy_timeout(db, %ld);\n", cfg->busy_timeout_ms);
	fprintf(out, "%s;\n", journal_sql(cfg->journal));
	fprintf(out, "%s;\n", sync_sql(cfg->sync));
	if (cfg->journal == JOURNAL_WAL)
		fprintf(out, "PRAGMA journal_size_limit = %d;\n"
			"sqlite3_wal_hook(db, ...);  -- after a commit: PASSIVE checkpoint from %d"
			" WAL pages, TRUNCATE from %d\n",
			JOURNAL_SIZE_LIMIT_BYTES, WAL_AUTOCHECKPOINT_PAGES, WAL_TRUNCATE_PAGES);
	if (cfg->lock_wait == LOCK_WAIT_FLOCK && cfg->txn == TXN_IMMEDIATE)
		fprintf(out, "flock(\"%s-writelock\", LOCK_EX);  -- before each BEGIN, released after COMMIT/ROLLBACK\n",
			cfg->db_path);
	fprintf(out, "%s;  -- each /create_user/ transaction, password hashed %s\n",
		begin_sql(cfg->txn),
		cfg->hash_when == HASH_BEFORE_BEGIN ? "before BEGIN"
						     : "inside the transaction");
}

/* Remembers rc and SQLite's message, and maps rc to a db_result. */
static enum db_result db_fail(struct db *db, int rc)
{
	db->last_rc = rc;
	snprintf(db->last_msg, sizeof(db->last_msg), "%s", sqlite3_errmsg(db->conn));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_BUSY;
	case SQLITE_CONSTRAINT:
		return DB_CONSTRAINT;
	default:
		return DB_ERR;
	}
}

void db_clear_error(struct db *db)
{
	db->last_rc = SQLITE_OK;
	db->last_msg[0] = '\0';
}

int db_errcode(const struct db *db)
{
	return db->last_rc;
}

/* The names of the result codes a worker can meet, for its log lines. */
static const struct { int code; const char *name; } code_names[] = {
	{ SQLITE_OK, "SQLITE_OK" },
	{ SQLITE_ERROR, "SQLITE_ERROR" },
	{ SQLITE_INTERNAL, "SQLITE_INTERNAL" },
	{ SQLITE_PERM, "SQLITE_PERM" },
	{ SQLITE_ABORT, "SQLITE_ABORT" },
	{ SQLITE_BUSY, "SQLITE_BUSY" },
	{ SQLITE_BUSY_RECOVERY, "SQLITE_BUSY_RECOVERY" },
	{ SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT" },
	{ SQLITE_BUSY_TIMEOUT, "SQLITE_BUSY_TIMEOUT" },
	{ SQLITE_LOCKED, "SQLITE_LOCKED" },
	{ SQLITE_NOMEM, "SQLITE_NOMEM" },
	{ SQLITE_READONLY, "SQLITE_READONLY" },
	{ SQLITE_READONLY_DBMOVED, "SQLITE_READONLY_DBMOVED" },
	{ SQLITE_IOERR, "SQLITE_IOERR" },
	{ SQLITE_CORRUPT, "SQLITE_CORRUPT" },
	{ SQLITE_FULL, "SQLITE_FULL" },
	{ SQLITE_CANTOPEN, "SQLITE_CANTOPEN" },
	{ SQLITE_PROTOCOL, "SQLITE_PROTOCOL" },
	{ SQLITE_SCHEMA, "SQLITE_SCHEMA" },
	{ SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT" },
	{ SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE" },
	{ SQLITE_MISUSE, "SQLITE_MISUSE" },
	{ SQLITE_NOTADB, "SQLITE_NOTADB" },
};

const char *db_code_name(int code)
{
	int primary = code & 0xff;
	const char *fallback = "SQLITE_UNKNOWN";

	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
		if (code_names[i].code == code)
			return code_names[i].name;
		if (code_names[i].code == primary)
			fallback = code_names[i].name;	/* an extended code not listed */
	}
	return fallback;
}

const char *db_errname(const struct db *db)
{
	return db_code_name(db->last_rc);
}

const char *db_errmsg(const struct db *db)
{
	return db->last_msg;
}

/* Runs a prepared statement that returns no rows we need, then resets it. */
static enum db_result step_done(struct db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	enum db_result res = DB_OK;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		res = db_fail(db, rc);
	sqlite3_reset(st);
	return res;
}

static enum db_result exec_sql(struct db *db, const char *sql)
{
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? DB_OK : db_fail(db, rc);
}

/* Runs a one-row, one-column query and copies its text result. */
static enum db_result query_text(struct db *db, const char *sql, char *out,
				 size_t outlen)
{
	sqlite3_stmt *st = NULL;
	enum db_result res = DB_OK;
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	} else {
		res = db_fail(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
	}
	sqlite3_finalize(st);
	return res;
}

static enum db_result query_int(struct db *db, const char *sql, int *out)
{
	char text[32];
	enum db_result res = query_text(db, sql, text, sizeof(text));

	if (res == DB_OK)
		*out = atoi(text);
	return res;
}

enum db_result db_read_pragmas(struct db *db, struct db_pragmas *out)
{
	struct db_pragmas p;
	enum db_result res;

	if ((res = query_text(db, "PRAGMA journal_mode", p.journal_mode,
			      sizeof(p.journal_mode))) != DB_OK ||
	    (res = query_int(db, "PRAGMA synchronous", &p.synchronous)) != DB_OK ||
	    (res = query_int(db, "PRAGMA busy_timeout", &p.busy_timeout_ms)) != DB_OK ||
	    (res = query_int(db, "PRAGMA user_version", &p.schema_version)) != DB_OK)
		return res;
	*out = p;
	return DB_OK;
}

#define STR_(x) #x
#define STR(x) STR_(x)
static const char wal_sql[] =
	"PRAGMA journal_size_limit = " STR(JOURNAL_SIZE_LIMIT_BYTES) ";";

/* Runs after every commit in WAL mode, in the committing worker. */
static int wal_hook(void *ctx, sqlite3 *conn, const char *name, int pages)
{
	struct db *db = ctx;
	int rc;

	if (pages < WAL_AUTOCHECKPOINT_PAGES)
		return SQLITE_OK;
	if (pages < WAL_TRUNCATE_PAGES || time(NULL) == db->last_truncate) {
		rc = sqlite3_wal_checkpoint_v2(conn, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else {
		db->last_truncate = time(NULL);
		sqlite3_busy_timeout(conn, WAL_TRUNCATE_WAIT_MS);
		rc = sqlite3_wal_checkpoint_v2(conn, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_timeout(conn, db->busy_timeout_ms);
	}
	/* Busy only means "not this time": the next commit tries again. */
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
		log_warn("wal checkpoint: %s (%d)", sqlite3_errstr(rc), rc);
	/* Not rc: the commit is done, and an error here would make it look failed. */
	return SQLITE_OK;
}

static int set_wal_checkpoints(struct db *db)
{
	if (exec_sql(db, wal_sql) != DB_OK)
		return -1;
	sqlite3_wal_hook(db->conn, wal_hook, db);
	return 0;
}

/* Applies the settings, then reads them back: SQLite ignores some silently. */
static int apply_settings(struct db *db, const struct config *cfg, char *err,
			  size_t errlen)
{
	struct db_pragmas p;
	char mode[16];

	db->busy_timeout_ms = (int)cfg->busy_timeout_ms;
	if (sqlite3_busy_timeout(db->conn, db->busy_timeout_ms) != SQLITE_OK ||
	    query_text(db, journal_sql(cfg->journal), mode, sizeof(mode)) != DB_OK ||
	    exec_sql(db, sync_sql(cfg->sync)) != DB_OK ||
	    (cfg->journal == JOURNAL_WAL && set_wal_checkpoints(db) != 0) ||
	    db_read_pragmas(db, &p) != DB_OK) {
		snprintf(err, errlen, "%s: applying settings: %s", cfg->db_path,
			 db->last_msg);
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

static int prepare_all(struct db *db, const struct config *cfg, char *err,
		       size_t errlen)
{
	for (int i = 0; i < DB_NSTMT; i++) {
		const char *sql = i == ST_BEGIN ? begin_sql(cfg->txn) : stmt_sql[i];
		/* PERSISTENT: these live as long as the worker. */
		int rc = sqlite3_prepare_v3(db->conn, sql, -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &db->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			db_fail(db, rc);
			snprintf(err, errlen, "%s: preparing \"%s\": %s",
				 cfg->db_path, sql, db->last_msg);
			return -1;
		}
	}
	return 0;
}

static int check_schema(struct db *db, const struct config *cfg, char *err,
			size_t errlen)
{
	int version;

	if (query_int(db, "PRAGMA user_version", &version) != DB_OK) {
		snprintf(err, errlen, "%s: %s", cfg->db_path, db->last_msg);
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

static int open_conn(struct db *db, const struct config *cfg,
		     enum db_open_mode mode, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc;

	if (mode == DB_OPEN_MIGRATE)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(cfg->db_path, &db->conn, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s%s", cfg->db_path,
			 db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc),
			 mode == DB_OPEN_SERVE ? " (run 'sqlite-fcgi migrate' first)" : "");
		return -1;
	}
	sqlite3_extended_result_codes(db->conn, 1);
	return 0;
}

/*
 * The lock file only makes waiting faster; SQLite's own locking keeps the
 * data right.  So a lock file that cannot be opened (a read-only directory)
 * costs the fast wait, not the service.
 */
static void open_writelock(struct db *db, const struct config *cfg)
{
	char path[CONFIG_PATH_MAX + 16], err[DB_ERR_LEN];

	/* A deferred BEGIN takes no write lock, so it queues for none. */
	if (cfg->lock_wait != LOCK_WAIT_FLOCK || cfg->txn != TXN_IMMEDIATE)
		return;
	snprintf(path, sizeof(path), "%s-writelock", cfg->db_path);
	if (writelock_open(path, cfg->busy_timeout_ms, &db->wl, err, sizeof(err)) != 0)
		log_warn("waiting with SQLite's busy handler: no write lock file: %s", err);
}

enum db_result db_open(const struct config *cfg, enum db_open_mode mode,
		       struct db **out, char *err, size_t errlen)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL) {
		snprintf(err, errlen, "out of memory");
		return DB_ERR;
	}
	if (open_conn(db, cfg, mode, err, errlen) != 0 ||
	    apply_settings(db, cfg, err, errlen) != 0)
		goto fail;
	if (mode == DB_OPEN_SERVE &&
	    (check_schema(db, cfg, err, errlen) != 0 ||
	     prepare_all(db, cfg, err, errlen) != 0))
		goto fail;
	if (mode == DB_OPEN_SERVE)
		open_writelock(db, cfg);
	*out = db;
	return DB_OK;
fail:
	/* sqlite3_open_v2 hands out a handle even on failure: close it too. */
	db_close(db);
	return DB_ERR;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < DB_NSTMT; i++)
		sqlite3_finalize(db->stmt[i]);
	sqlite3_close(db->conn);
	writelock_close(db->wl);
	free(db);
}

enum db_result db_migrate(struct db *db, char *err, size_t errlen)
{
	int version = 0;
	enum db_result res;

	/* IMMEDIATE: two migrations started at once must not both create. */
	if ((res = exec_sql(db, "BEGIN IMMEDIATE")) != DB_OK ||
	    (res = query_int(db, "PRAGMA user_version", &version)) != DB_OK)
		goto fail;
	if (version > DB_SCHEMA_VERSION) {
		db_rollback(db);
		snprintf(err, errlen, "schema version %d is newer than this"
			 " program's %d", version, DB_SCHEMA_VERSION);
		return DB_ERR;
	}
	if (version < 1 && (res = exec_sql(db, schema_v1)) != DB_OK)
		goto fail;
	if (version < 2 && (res = exec_sql(db, schema_v2)) != DB_OK)
		goto fail;
	if ((res = exec_sql(db, "COMMIT")) != DB_OK)
		goto fail;
	return DB_OK;
fail:
	snprintf(err, errlen, "migrate: %s", db->last_msg);
	db_rollback(db);
	return res;
}

/*
 * DB_ERR when the file this connection has open is no longer the one at
 * DB_PATH (deleted, moved or replaced).  In WAL mode SQLite would go on
 * writing to the deleted file, and every write would be lost.
 */
static enum db_result check_not_moved(struct db *db)
{
	int moved = 0;
	int rc = sqlite3_file_control(db->conn, "main", SQLITE_FCNTL_HAS_MOVED, &moved);

	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	if (moved) {
		db->last_rc = SQLITE_READONLY_DBMOVED;
		snprintf(db->last_msg, sizeof(db->last_msg),
			 "the database file was moved or deleted");
		return DB_ERR;
	}
	return DB_OK;
}

/* Lets the next writer in once no transaction is open any more. */
static void release_writelock_if_done(struct db *db)
{
	if (db->wl != NULL && sqlite3_get_autocommit(db->conn))
		writelock_release(db->wl);
}

static enum db_result acquire_writelock(struct db *db)
{
	switch (writelock_acquire(db->wl)) {
	case WRITELOCK_OK:
		return DB_OK;
	case WRITELOCK_TIMEOUT:
		db->last_rc = SQLITE_BUSY;
		snprintf(db->last_msg, sizeof(db->last_msg),
			 "timed out waiting for the write lock file");
		return DB_BUSY;
	case WRITELOCK_ERR:
		break;
	}
	db->last_rc = SQLITE_IOERR;
	snprintf(db->last_msg, sizeof(db->last_msg), "write lock file: %s",
		 strerror(errno));
	return DB_ERR;
}

enum db_result db_begin(struct db *db)
{
	enum db_result res = check_not_moved(db);

	if (res != DB_OK)
		return res;
	if (db->wl != NULL && (res = acquire_writelock(db)) != DB_OK)
		return res;
	res = step_done(db, db->stmt[ST_BEGIN]);
	release_writelock_if_done(db);
	return res;
}

enum db_result db_commit(struct db *db)
{
	enum db_result res = step_done(db, db->stmt[ST_COMMIT]);

	release_writelock_if_done(db);
	return res;
}

void db_rollback(struct db *db)
{
	/* A failed statement may already have rolled the transaction back. */
	if (sqlite3_get_autocommit(db->conn))
		goto out;
	if (db->stmt[ST_ROLLBACK] != NULL) {
		int rc = sqlite3_step(db->stmt[ST_ROLLBACK]);

		sqlite3_reset(db->stmt[ST_ROLLBACK]);
		if (rc == SQLITE_DONE)
			goto out;
	}
	sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
out:
	release_writelock_if_done(db);
}

enum db_result db_users_read_recent(struct db *db, int *nread)
{
	sqlite3_stmt *st = db->stmt[ST_RECENT];
	int n = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n++;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc);
	*nread = n;
	return DB_OK;
}

enum db_result db_user_insert(struct db *db, const char *username,
			      const char *email, const char *password_hash)
{
	sqlite3_stmt *st = db->stmt[ST_INSERT];
	enum db_result res;
	int rc;

	/* SQLITE_STATIC: the strings outlive the statement's use here. */
	if ((rc = sqlite3_bind_text(st, 1, password_hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC)) != SQLITE_OK) {
		sqlite3_clear_bindings(st);
		return db_fail(db, rc);
	}
	res = step_done(db, st);
	sqlite3_clear_bindings(st);
	return res;
}

enum db_result db_user_count(struct db *db, long long *count)
{
	sqlite3_stmt *st = db->stmt[ST_COUNT];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? DB_OK : db_fail(db, rc);
}

enum db_result db_ping(struct db *db)
{
	enum db_result res = check_not_moved(db);

	return res != DB_OK ? res : step_done(db, db->stmt[ST_PING]);
}

bool db_needs_reopen(const struct db *db)
{
	switch (db->last_rc & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
	case SQLITE_READONLY:	/* includes SQLITE_READONLY_DBMOVED */
		return true;
	default:
		return false;
	}
}

/* Checks that text is one JSON object; DB_INVALID with err set when not. */
static enum db_result json_check_object(struct db *db, const char *text,
					size_t len, char *err, size_t errlen)
{
	sqlite3_stmt *st = db->stmt[ST_JSON_TYPE];
	enum db_result res = DB_OK;
	const unsigned char *type;
	int rc = sqlite3_bind_text(st, 1, text, (int)len, SQLITE_STATIC);

	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	rc = sqlite3_step(st);
	type = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (rc == SQLITE_ROW && (type == NULL || strcmp((const char *)type, "object") != 0)) {
		snprintf(err, errlen, "JSON body must be an object, not %s",
			 type ? (const char *)type : "empty");
		res = DB_INVALID;
	} else if (rc != SQLITE_ROW) {
		/* SQLite answers SQLITE_ERROR "malformed JSON" for bad input. */
		res = (rc & 0xff) == SQLITE_ERROR ? DB_INVALID : db_fail(db, rc);
		if (res == DB_INVALID)
			snprintf(err, errlen, "malformed JSON");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}

/*
 * True when text holds a NUL byte, raw or as the escape \u0000.  SQLite's
 * JSON functions (3.40) read their argument as a C string and end a decoded
 * string at \u0000, so "x\u0000y" would silently become "x": a password
 * cut short, or a different username.  Refuse both instead.
 */
static bool json_has_nul(const char *text, size_t len)
{
	if (memchr(text, '\0', len) != NULL)
		return true;
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
			return true;
		i++;	/* the escaped character: "\\u0000" is no NUL */
	}
	return false;
}

enum db_result db_json_object_walk(struct db *db, const char *text, size_t len,
				   db_json_member_fn member, void *ctx,
				   char *err, size_t errlen)
{
	sqlite3_stmt *st = db->stmt[ST_JSON_EACH];
	enum db_result res;
	int rc;

	if (len > (size_t)INT32_MAX) {
		snprintf(err, errlen, "JSON body too large");
		return DB_INVALID;
	}
	if (json_has_nul(text, len)) {
		snprintf(err, errlen, "JSON strings must not contain NUL (\\u0000)");
		return DB_INVALID;
	}
	if ((res = json_check_object(db, text, len, err, errlen)) != DB_OK)
		return res;
	if ((rc = sqlite3_bind_text(st, 1, text, (int)len, SQLITE_STATIC)) != SQLITE_OK)
		return db_fail(db, rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		const char *value = (const char *)sqlite3_column_text(st, 2);
		size_t vlen = (size_t)sqlite3_column_bytes(st, 2);

		if (member(ctx, key ? key : "", type ? type : "null", value,
			   vlen, err, errlen) != 0) {
			res = DB_INVALID;
			break;
		}
	}
	if (res == DB_OK && rc != SQLITE_DONE)
		res = db_fail(db, rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}
