#ifndef SQLITE_FCGI_ROUTES_USERS_H
#define SQLITE_FCGI_ROUTES_USERS_H

#include "http.h"
#include "routes_app.h"

/*
 * The users' routes (routes.c's table): /create_user/ (GET: a random user;
 * POST: the one the body names), /users/ (a page) and /users/count.  Each
 * answers the request.
 */
void handle_create_user(struct app *app, struct http_request *r);
void handle_users(struct app *app, struct http_request *r);
void handle_users_count(struct app *app, struct http_request *r);

#endif
