#ifndef SQLITE_FCGI_ROUTES_APP_H
#define SQLITE_FCGI_ROUTES_APP_H

#include "config.h"
#include "db.h"
#include "http.h"
#include "rows_input.h"

/*
 * Where the handlers build what they read and answer: too large for a
 * thread's stack, so each serving thread has its own on the heap, used by
 * one request at a time.
 */
struct route_buffers {
	struct db_user_row rows[DB_PAGE_MAX];	/* a /users/ page */
	char body[HTTP_RESPONSE_MAX];	/* the /users/ page or the /metrics text */
	char input[HTTP_BODY_MAX + 1];	/* a POST body, wiped once parsed */
	struct row_input row;		/* a matrix write's form, parsed */
};

struct commit_queue;

/*
 * What every handler needs: the settings, and the serving thread's own
 * connection and buffers (server.c gives each thread one of these).
 */
struct app {
	const struct config *cfg;
	struct db *db;		/* NULL while the database cannot be opened */
	unsigned db_gen;	/* the generation db was opened in (reconnect.h) */
	struct route_buffers *buf;
	/* GROUP_COMMIT=on: the process's queue, where writes go; NULL: off. */
	struct commit_queue *commit;
};

#endif
