#include "db_sqlite_conn.h"

/*
 * The SQLite engine's statements, prepared once per connection
 * (DB_OPEN_SERVE) and run by db_sqlite.c.
 */

static const char *const stmt_sql[DB_NSTMT] = {
	/* Reads take DEFERRED whatever SQLITE_TXN says, so no write lock. */
	[ST_BEGIN_DEFERRED] = "BEGIN DEFERRED",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* The seed view reads whole rows: User.objects.all()[:DB_RECENT_USERS]. */
	[ST_RECENT] = "SELECT id, password, last_login, is_superuser, username,"
		      " last_name, email, is_staff, is_active, date_joined,"
		      " first_name FROM auth_user LIMIT " DB_STR(DB_RECENT_USERS),
	/* The values Django's create_user() stores. */
	[ST_INSERT] = "INSERT INTO auth_user (password, last_login, is_superuser,"
		      " username, last_name, email, is_staff, is_active,"
		      " date_joined, first_name) VALUES (?1, NULL, 0, ?2, '', ?3,"
		      " 0, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), '')",
	[ST_COUNT] = "SELECT n FROM sqlitefcgi_user_count WHERE id = 1",
	[ST_PING] = "SELECT 1",
	/*
	 * The primary key's order, from id ?1 down: a SEARCH on the rowid,
	 * whatever the page (an "?1 = 0 OR" for the first page would make it
	 * a SCAN from the newest row, walking every row above the page).
	 */
	[ST_PAGE] = "SELECT id, username, date_joined FROM auth_user"
		    " WHERE id <= ?1 ORDER BY id DESC LIMIT ?2",
	/* The matrix: Row.objects.all()[:DB_ROWS_READ], whole rows. */
	[ST_ROWS_READ] = "SELECT id, name, campaign, voice, recognize, inside, growth,"
			 " side, yard, discussion FROM basic_model_row"
			 " LIMIT " DB_STR(DB_ROWS_READ),
	/* The texts are ?1-?7, the floats ?8 and ?9: see bind_row(). */
	[ST_ROW_INSERT] = "INSERT INTO basic_model_row (name, campaign, voice,"
			  " recognize, inside, growth, side, yard, discussion)"
			  " VALUES (?1, ?2, ?3, ?4, ?8, ?5, ?9, ?6, ?7)",
	/* Group commit: one request of a shared transaction (commit.c). */
	[ST_SAVEPOINT] = "SAVEPOINT request",
	[ST_RELEASE] = "RELEASE request",
	[ST_ROLLBACK_TO] = "ROLLBACK TO request",
};

/* The BEGIN a transaction of SQLITE_TXN's shape runs. */
static enum db_stmt sq_begin_stmt(enum config_txn txn)
{
	return txn == TXN_IMMEDIATE ? ST_BEGIN_IMMEDIATE : ST_BEGIN_DEFERRED;
}

const char *sq_begin_sql(enum config_txn txn)
{
	return stmt_sql[sq_begin_stmt(txn)];
}

int sq_prepare_all(struct db_sqlite *s, const struct config *cfg, char *err,
		   size_t errlen)
{
	s->begin = sq_begin_stmt(cfg->txn);
	for (int i = 0; i < DB_NSTMT; i++) {
		const char *sql = stmt_sql[i];
		/* PERSISTENT: these live as long as the worker. */
		int rc = sqlite3_prepare_v3(s->conn, sql, -1,
					    SQLITE_PREPARE_PERSISTENT,
					    &s->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			sq_fail(s, rc);
			snprintf(err, errlen, "%s: preparing \"%s\": %s",
				 cfg->db_path, sql, s->base.last_msg);
			return -1;
		}
	}
	return 0;
}
