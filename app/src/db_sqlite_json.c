#include "db_sqlite_conn.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* JSON request bodies, read with SQLite's JSON functions. */

/* Checks that text is one JSON object; DB_INVALID with err set when not. */
static enum db_result json_check_object(struct db_sqlite *s, const char *text,
					size_t len, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->stmt[ST_JSON_TYPE];
	enum db_result res = DB_OK;
	const unsigned char *type;
	int rc = sqlite3_bind_text(st, 1, text, (int)len, SQLITE_STATIC);

	if (rc != SQLITE_OK)
		return sq_fail(s, rc);
	rc = sqlite3_step(st);
	type = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (rc == SQLITE_ROW && (type == NULL || strcmp((const char *)type, "object") != 0)) {
		snprintf(err, errlen, "JSON body must be an object, not %s",
			 type ? (const char *)type : "empty");
		res = DB_INVALID;
	} else if (rc != SQLITE_ROW) {
		/* SQLite answers SQLITE_ERROR "malformed JSON" for bad input. */
		res = (rc & 0xff) == SQLITE_ERROR ? DB_INVALID : sq_fail(s, rc);
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
	struct db_sqlite *s = sq(db);
	sqlite3_stmt *st = s->stmt[ST_JSON_EACH];
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
	if ((res = json_check_object(s, text, len, err, errlen)) != DB_OK)
		return res;
	if ((rc = sqlite3_bind_text(st, 1, text, (int)len, SQLITE_STATIC)) != SQLITE_OK)
		return sq_fail(s, rc);
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
		res = sq_fail(s, rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}
