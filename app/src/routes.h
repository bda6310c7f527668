#ifndef SQLITE_FCGI_ROUTES_H
#define SQLITE_FCGI_ROUTES_H

#include "http.h"
#include "routes_app.h"

/*
 * Finds the route for r's path and method and runs its handler, which
 * answers the request: 404 for an unknown path, 405 with Allow for a
 * method the route does not take.
 */
void routes_dispatch(struct app *app, struct http_request *r);

#endif
