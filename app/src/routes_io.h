#ifndef SQLITE_FCGI_ROUTES_IO_H
#define SQLITE_FCGI_ROUTES_IO_H

#include <stddef.h>

#include "db.h"
#include "http.h"
#include "routes_app.h"

/*
 * What the handlers (routes.c, routes_users.c, routes_rows.c) share: a
 * request's body read into the thread's buffer, and the answer to a failed
 * database operation.
 */

struct commit_error;

/* The header of an answer worth a retry (503). */
extern const char retry_after[];
/*
 * A COMMIT sent and never confirmed (DB_UNKNOWN): 504, never a 2xx, and no
 * Retry-After, since asking again may write the same thing twice.
 */
#define UNKNOWN_OUTCOME "commit not confirmed: the write may or may not have been" \
	" saved; check before trying again"

/*
 * Answers a failed database operation (e->step: what failed, for the log,
 * or NULL): busy is worth a retry, an unconfirmed COMMIT is 504, anything
 * else is logged.  note, when
 * not empty, is added to the answer's message.
 */
void respond_failure(struct http_request *r, const struct commit_error *e,
		     enum db_result res, const char *note);
/* respond_failure with app->db's last failure. */
void respond_db_failed(struct app *app, struct http_request *r,
		       const char *step, enum db_result res, const char *note);

/*
 * Reads the request's body into the serving thread's body buffer
 * (buf->input): *body and *len.  Returns 0, or the HTTP status of the
 * refusal with its message in err, the buffer then wiped (a body refused
 * half-read may hold a password).
 */
int read_body(struct http_request *r, struct route_buffers *buf, char **body,
	      size_t *len, char *err, size_t errlen);

#endif
