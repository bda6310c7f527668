#ifndef SQLITE_FCGI_ROUTES_ROWS_H
#define SQLITE_FCGI_ROUTES_ROWS_H

#include "http.h"
#include "routes_app.h"
#include "rows.h"

/*
 * Upstream's endpoint matrix (docs/matrix.md): every route of routes.c's
 * table with a shape runs here, reading (and for a write, first parsing
 * the form body) as the shape says, then answers the request.
 */
void handle_rows(struct app *app, const struct rows_shape *shape,
		 struct http_request *r);

#endif
