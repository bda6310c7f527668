#ifndef SQLITE_FCGI_ROUTES_FAILURE_H
#define SQLITE_FCGI_ROUTES_FAILURE_H

#include "db.h"
#include "http.h"

/*
 * The one place where a failure becomes an HTTP answer, for every route.
 * A failure of the data layer (struct db_failure, db.h) is answered by its
 * result, whichever route, engine or transaction shape met it:
 *
 *   DB_CONSTRAINT      409 "username: already taken" (the client's conflict: not logged)
 *   DB_BUSY, DB_RETRY  503 "database is locked", Retry-After; counted in /metrics by name
 *   DB_UNKNOWN         504, no Retry-After: asking again may write the same thing twice
 *   DB_INTEGRITY       500 "internal error": a bug, or data this program did not write
 *   any other          503 "database unavailable", Retry-After
 *
 * A 503 is always worth a retry and always carries Retry-After; no other
 * status does.
 */

/* 503 with msg and Retry-After: the database (or metrics) cannot serve now. */
void respond_unavailable(struct http_request *r, const char *msg);

/* 500 "internal error", with "who: internal error: cause" logged. */
void respond_internal(struct http_request *r, const char *who, const char *cause);

/*
 * Answers f as the table above says, note (may be empty; says what was
 * written before the failure) added to the message, and logs it, unless
 * it is the client's conflict, as "who: step: message (name, code)note",
 * a 500 with "internal error: " and a 504 with "outcome unknown: " after
 * who.
 */
void respond_db_failure(struct http_request *r, const char *who,
			const struct db_failure *f, const char *note);

#endif
