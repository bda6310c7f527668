#include "db_pg_conn.h"

/*
 * The statements of the PostgreSQL engine that a worker prepares once per
 * connection (db_pg_open.c) and runs by name (db_pg_exec.c, db_pg.c).
 */

const struct pg_stmt_def pg_stmts[PG_NSTMT] = {
	/* The seed view reads whole rows: User.objects.all()[:DB_RECENT_USERS]. */
	[PG_RECENT] = { "sqlitefcgi_recent",
		"SELECT id, password, last_login, is_superuser, username,"
		" first_name, last_name, email, is_staff, is_active, date_joined"
		" FROM auth_user LIMIT " DB_STR(DB_RECENT_USERS), 0 },
	/*
	 * The values Django's create_user() stores.  ON CONFLICT DO NOTHING:
	 * a taken username inserts no row and leaves the transaction usable.
	 * A PostgreSQL transaction is aborted by any error, and users.c draws
	 * a new random name and inserts again in the same transaction.  A
	 * concurrent insert of the same name is waited for, as a unique index
	 * would.  Any other violation (the primary key, a NOT NULL) is still
	 * an error.
	 */
	[PG_INSERT] = { "sqlitefcgi_insert",
		"INSERT INTO auth_user (password, last_login, is_superuser,"
		" username, first_name, last_name, email, is_staff, is_active,"
		" date_joined) VALUES ($1, NULL, false, $2, '', '', $3, false,"
		" true, now()) ON CONFLICT (username) DO NOTHING", 3 },
	/* The count the insert's trigger has just updated: see db_pg_open.c. */
	[PG_COUNT] = { "sqlitefcgi_count",
		"SELECT n FROM sqlitefcgi_user_count WHERE id = 1", 0 },
	/*
	 * GET /users/: newest first, from id $1 down (an index scan of the
	 * primary key for every page: no "$1 = 0 OR" that a generic plan
	 * turns into a walk from the newest row).
	 */
	[PG_PAGE] = { "sqlitefcgi_page",
		"SELECT id, username, date_joined::text FROM auth_user"
		" WHERE id <= $1::bigint ORDER BY id DESC LIMIT $2::integer", 2 },
	/* The matrix: Row.objects.all()[:DB_ROWS_READ], whole rows. */
	[PG_ROWS_READ] = { "sqlitefcgi_rows_read",
		"SELECT id, name, campaign, voice, recognize, inside, growth, side,"
		" yard, discussion FROM basic_model_row LIMIT " DB_STR(DB_ROWS_READ), 0 },
	/* The texts are $1-$7, the floats $8 and $9: see pg_row_insert(). */
	[PG_ROW_INSERT] = { "sqlitefcgi_row_insert",
		"INSERT INTO basic_model_row (name, campaign, voice, recognize, inside,"
		" growth, side, yard, discussion) VALUES ($1, $2, $3, $4, $8, $5, $9,"
		" $6, $7) RETURNING id", 9 },
};
