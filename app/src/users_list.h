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
 * -1 when out is too small.
 */
int users_list_render(bool json, const struct db_user_row *rows, int n, int limit,
		      long long count, char *out, size_t outlen);

#endif
