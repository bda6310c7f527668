#include "db_sqlite_conn.h"

#include <stdio.h>

#include "log.h"

/*
 * The SQLite schema: Django's auth_user and the kept user count, and the
 * matrix's basic_model_row.
 */


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
 * Upstream's Row (docs/matrix.md), as Django's migrate creates it on SQLite
 * from basic_model's 0001 migration (the app configures BigAutoField, which
 * SQLite stores as an integer primary key); tests/integration/test_matrix.py
 * compares it with Django's own.
 */
static const char schema_v3[] =
	"CREATE TABLE \"basic_model_row\" ("
	"\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "
	"\"name\" text NOT NULL, "
	"\"campaign\" text NOT NULL, "
	"\"voice\" text NOT NULL, "
	"\"recognize\" text NOT NULL, "
	"\"inside\" real NOT NULL, "
	"\"growth\" text NOT NULL, "
	"\"side\" real NOT NULL, "
	"\"yard\" text NOT NULL, "
	"\"discussion\" text NOT NULL);"
	"PRAGMA user_version = 3;";

/* The kept count, recounted when its row is missing (deleted by hand). */
static const char repair_count[] =
	"INSERT INTO sqlitefcgi_user_count (id, n) SELECT 1, (SELECT COUNT(*) FROM auth_user)"
	" WHERE NOT EXISTS (SELECT 1 FROM sqlitefcgi_user_count WHERE id = 1)";

enum db_result sq_migrate(struct db *db, char *err, size_t errlen)
{
	struct db_sqlite *s = sq(db);
	int version = 0;
	enum db_result res;

	/* IMMEDIATE: two migrations started at once must not both create. */
	if ((res = sq_exec(s, "BEGIN IMMEDIATE")) != DB_OK ||
	    (res = sq_query_int(s, "PRAGMA user_version", &version)) != DB_OK)
		goto fail;
	if (version > DB_SCHEMA_VERSION) {
		sq_rollback(db);
		snprintf(err, errlen, "schema version %d is newer than this"
			 " program's %d", version, DB_SCHEMA_VERSION);
		return DB_ERR;
	}
	if (version < 1 && (res = sq_exec(s, schema_v1)) != DB_OK)
		goto fail;
	if (version < 2 && (res = sq_exec(s, schema_v2)) != DB_OK)
		goto fail;
	if (version < 3 && (res = sq_exec(s, schema_v3)) != DB_OK)
		goto fail;
	if (version >= 2) {
		if ((res = sq_exec(s, repair_count)) != DB_OK)
			goto fail;
		if (sqlite3_changes(s->conn) > 0)
			log_info("migrate: the kept user count was missing:"
				 " recounted the users");
	}
	if ((res = sq_exec(s, "COMMIT")) != DB_OK)
		goto fail;
	return DB_OK;
fail:
	snprintf(err, errlen, "migrate: %s", db->last_msg);
	sq_rollback(db);
	return res;
}
