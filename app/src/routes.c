#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "routes_failure.h"
#include "routes_rows.h"
#include "routes_users.h"
#include "rows.h"

typedef void (*route_handler)(struct app *app, struct http_request *r);

struct route {
	const char *path;
	const char *allow;	/* the methods, as the Allow header lists them (OPTIONS too) */
	route_handler handler;
	bool needs_db;
	bool timed;		/* its answer time goes in HIST_CREATE_USER */
	/* The matrix's routes: handler is NULL, handle_rows runs this shape. */
	const struct rows_shape *shape;
};

/* The service's own routes, here: /metrics names the routes of the table. */
static void handle_healthz(struct app *app, struct http_request *r);
static void handle_metrics(struct app *app, struct http_request *r);

#define READS "GET, HEAD, OPTIONS"
#define WRITES "POST, OPTIONS"

/* The only list of routes: /metrics counts requests by index in it. */
static const struct route routes[] = {
	{ "/create_user/", "GET, POST, OPTIONS", handle_create_user, true, true, NULL },
	{ "/users/", READS, handle_users, true, false, NULL },
	{ "/users/count", READS, handle_users_count, true, false, NULL },
	{ "/healthz", READS, handle_healthz, true, false, NULL },
	{ "/metrics", READS, handle_metrics, false, false, NULL },
	/* Upstream's endpoint matrix (docs/matrix.md), with its paths. */
	{ "/read/", READS, NULL, true, false, &rows_view_read },
	{ "/read_transaction/", READS, NULL, true, false, &rows_view_read_transaction },
	{ "/write/", WRITES, NULL, true, false, &rows_view_write },
	{ "/read_write/", WRITES, NULL, true, false, &rows_view_read_write },
	{ "/write_read/", WRITES, NULL, true, false, &rows_view_write_read },
	{ "/write_read_transaction/", WRITES, NULL, true, false,
	  &rows_view_write_read_transaction },
	{ "/read_write_transaction/", WRITES, NULL, true, false,
	  &rows_view_read_write_transaction },
	{ "/read_write_transaction_immediate/", WRITES, NULL, true, false,
	  &rows_view_read_write_transaction_immediate },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
/* Requests to no route are counted after the routes, as "other". */
#define ROUTE_OTHER NROUTES

_Static_assert(NROUTES + 1 <= METRICS_MAX_ROUTES,
	       "the metrics file has room for METRICS_MAX_ROUTES routes");

/* True when method is one of the comma-separated names in allow. */
static bool method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = allow; n > 0 && (p = strstr(p, method)) != NULL; p += n) {
		bool starts = p == allow || p[-1] == ' ';
		bool ends = p[n] == '\0' || p[n] == ',';

		if (starts && ends)
			return true;
	}
	return false;
}

static const struct route *find_route(const char *path)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(path, routes[i].path) == 0)
			return &routes[i];
	return NULL;
}

static void run_route(struct app *app, const struct route *route,
		      struct http_request *r)
{
	char allow[64];

	snprintf(allow, sizeof(allow), "Allow: %s\r\n", route->allow);
	if (strcmp(r->method, "OPTIONS") == 0) {
		http_respond_empty(r, 204, allow);
	} else if (!method_allowed(route->allow, r->method)) {
		http_respond_error(r, 405, allow, "method not allowed");
	} else if (route->needs_db && app->db == NULL) {
		respond_unavailable(r, "database unavailable");
	} else if (route->shape != NULL) {
		handle_rows(app, route->shape, r);
	} else {
		route->handler(app, r);
	}
}

void routes_dispatch(struct app *app, struct http_request *r)
{
	const struct route *route = find_route(r->path);
	uint64_t start = metrics_now_ns();

	if (route == NULL) {
		http_respond_error(r, 404, NULL, "not found");
		metrics_count_request(ROUTE_OTHER, r->status);
		return;
	}
	run_route(app, route, r);
	metrics_count_request((size_t)(route - routes), r->status);
	if (route->timed)
		metrics_observe(HIST_CREATE_USER, metrics_now_ns() - start);
}

static void handle_healthz(struct app *app, struct http_request *r)
{
	if (db_ping(app->db) != DB_OK) {
		log_warn("healthz: %s (%s, %d)", db_errmsg(app->db),
			 db_errname(app->db), db_errcode(app->db));
		respond_unavailable(r, "database unavailable");
		return;
	}
	http_respond(r, 200, "text/plain; charset=utf-8", NULL, "ok\n");
}

static void handle_metrics(struct app *app, struct http_request *r)
{
	char *text = app->buf->body;
	const char *names[NROUTES + 1];
	int n;

	for (size_t i = 0; i < NROUTES; i++)
		names[i] = routes[i].path;
	names[ROUTE_OTHER] = "other";
	n = metrics_render(text, sizeof(app->buf->body), names, NROUTES + 1,
			   db_wal_bytes(app->cfg));
	if (n < 0) {
		log_warn("metrics: not available (no shared metrics file, or too large)");
		respond_unavailable(r, "metrics unavailable");
		return;
	}
	http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text);
}

