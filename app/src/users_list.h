#ifndef SQLITE_FCGI_USERS_LIST_H
#define SQLITE_FCGI_USERS_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

/*
 * GET /users/ and /users/count: the query string read, the answer written.
 * The reading itself is db_users_page (one read-only transaction).
 */

#define USERS_LIST_DEFAULT 10

/*
 * The longest answer a page can be, whatever the rows hold: each byte of a
 * username or date may take 6 in JSON (a control character is \u00XX), and
 * a username is up to DB_USERNAME_MAX bytes (150 four-byte letters).  Each
 * row adds at most 70 bytes of names, punctuation and a 20-digit id; the
 * count and next_after_id at most 128 around them.
 */
#define USERS_LIST_ESCAPED_MAX 6
#define USERS_LIST_ROW_MAX (70 + USERS_LIST_ESCAPED_MAX * \
			    (DB_USERNAME_MAX + sizeof(((struct db_user_row *)0)->date_joined)))
#define USERS_LIST_BODY_MAX (128 + DB_PAGE_MAX * USERS_LIST_ROW_MAX)

struct users_list_query {
	int limit;		/* 1..DB_PAGE_MAX, USERS_LIST_DEFAULT when absent */
	long long after_id;	/* 0: from the newest; else users listed after it */
};

/*
 * Reads "limit=N&after_id=K" (either, both or neither, once each).
 * Returns 0, or -1 with a message for a 400 in err.
 */
int users_list_parse(const char *query, struct users_list_query *q, char *err,
		     size_t errlen);

/*
 * Writes the page as JSON ({"count", "users": [{"id", "username",
 * "date_joined"}], "next_after_id"}) or as text, into out.  Returns 0, or
 * -1 when out is too small (never with USERS_LIST_BODY_MAX bytes).
 */
int users_list_render(bool json, const struct db_user_row *rows, int n, int limit,
		      long long count, char *out, size_t outlen);

#endif
