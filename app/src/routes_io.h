#ifndef SQLITE_FCGI_ROUTES_IO_H
#define SQLITE_FCGI_ROUTES_IO_H

#include <stddef.h>

#include "http.h"
#include "routes_app.h"

/*
 * What the handlers that take a body (routes_users.c, routes_rows.c)
 * share: the request's body read into the thread's buffer.  A failure is
 * answered by routes_failure.c.
 */

/*
 * Reads the request's body into the serving thread's body buffer
 * (buf->input): *body and *len.  Returns 0, or the HTTP status of the
 * refusal with its message in err, the buffer then wiped (a body refused
 * half-read may hold a password).
 */
int read_body(struct http_request *r, struct route_buffers *buf, char **body,
	      size_t *len, char *err, size_t errlen);

#endif
