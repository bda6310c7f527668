#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "input.h"
#include "log.h"
#include "metrics.h"
#include "users.h"
#include "users_list.h"

typedef void (*route_handler)(struct app *app, struct http_request *r);

struct route {
	const char *path;
	const char *allow;	/* the methods, as the Allow header lists them (OPTIONS too) */
	route_handler handler;
	bool needs_db;
	bool timed;		/* its answer time goes in HIST_CREATE_USER */
};

static void handle_create_user(struct app *app, struct http_request *r);
static void handle_healthz(struct app *app, struct http_request *r);
static void handle_users(struct app *app, struct http_request *r);
static void handle_users_count(struct app *app, struct http_request *r);
static void handle_metrics(struct app *app, struct http_request *r);

/* The only list of routes: /metrics counts requests by index in it. */
static const struct route routes[] = {
	{ "/create_user/", "GET, POST, OPTIONS", handle_create_user, true, true },
	{ "/users/", "GET, HEAD, OPTIONS", handle_users, true, false },
	{ "/users/count", "GET, HEAD, OPTIONS", handle_users_count, true, false },
	{ "/healthz", "GET, HEAD, OPTIONS", handle_healthz, true, false },
	{ "/metrics", "GET, HEAD, OPTIONS", handle_metrics, false, false },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
/* Requests to no route are counted after the routes, as "other". */
#define ROUTE_OTHER NROUTES

_Static_assert(NROUTES + 1 <= METRICS_MAX_ROUTES,
	       "the metrics file has room for METRICS_MAX_ROUTES routes");

static const char retry_after[] = "Retry-After: 1\r\n";

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
		http_respond_error(r, 503, retry_after, "database unavailable");
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
		http_respond_error(r, 503, retry_after, "database unavailable");
		return;
	}
	http_respond(r, 200, "text/plain; charset=utf-8", NULL, "ok\n");
}

/* Answers a failed read: busy is worth a retry, anything else is logged. */
static void respond_read_failed(struct app *app, struct http_request *r,
				enum db_result res)
{
	log_warn("%s: %s (%s, %d)", r->path, db_errmsg(app->db),
		 db_errname(app->db), db_errcode(app->db));
	if (res == DB_BUSY) {
		metrics_count_busy(db_errname(app->db));
		http_respond_error(r, 503, retry_after, "database is locked");
	} else if (res == DB_INTEGRITY) {
		http_respond_error(r, 500, NULL, "internal error");
	} else {
		http_respond_error(r, 503, retry_after, "database unavailable");
	}
}

static void handle_users(struct app *app, struct http_request *r)
{
	struct db_user_row *rows = app->buf->rows;
	char *body = app->buf->body;
	struct users_list_query q;
	char err[ERR_LEN];
	long long count;
	int n;
	enum db_result res;

	if (users_list_parse(r->query, &q, err, sizeof(err)) != 0) {
		http_respond_error(r, 400, NULL, err);
		return;
	}
	res = db_users_page(app->db, q.after_id, q.limit, rows, &n, &count);
	if (res != DB_OK) {
		respond_read_failed(app, r, res);
		return;
	}
	if (users_list_render(r->wants_json, rows, n, q.limit, count, body,
			      sizeof(app->buf->body)) != 0) {
		log_warn("users: the page does not fit the response");
		http_respond_error(r, 500, NULL, "internal error");
		return;
	}
	http_respond(r, 200, r->wants_json ? "application/json"
					   : "text/plain; charset=utf-8", NULL, body);
}

static void handle_users_count(struct app *app, struct http_request *r)
{
	char body[64];
	long long count;
	int n;
	enum db_result res;

	if (r->query[0] != '\0') {
		http_respond_error(r, 400, NULL, "/users/count takes no query parameters");
		return;
	}
	if ((res = db_users_page(app->db, 0, 0, NULL, &n, &count)) != DB_OK) {
		respond_read_failed(app, r, res);
		return;
	}
	snprintf(body, sizeof(body), r->wants_json ? "{\"count\": %lld}\n" : "%lld\n", count);
	http_respond(r, 200, r->wants_json ? "application/json"
					   : "text/plain; charset=utf-8", NULL, body);
}

static void handle_metrics(struct app *app, struct http_request *r)
{
	char *text = app->buf->body;
	const char *names[NROUTES + 1];
	char wal_path[CONFIG_PATH_MAX + sizeof(CONFIG_WAL_SUFFIX)];
	struct stat st;
	long long wal_bytes = -1;
	int n;

	for (size_t i = 0; i < NROUTES; i++)
		names[i] = routes[i].path;
	names[ROUTE_OTHER] = "other";
	snprintf(wal_path, sizeof(wal_path), "%s%s", app->cfg->db_path, CONFIG_WAL_SUFFIX);
	if (stat(wal_path, &st) == 0)
		wal_bytes = (long long)st.st_size;
	n = metrics_render(text, sizeof(app->buf->body), names, NROUTES + 1, wal_bytes);
	if (n < 0) {
		log_warn("metrics: not available (no shared metrics file, or too large)");
		http_respond_error(r, 503, retry_after, "metrics unavailable");
		return;
	}
	http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text);
}

/* Maps a body that could not be read to its status; 0 when it was read. */
static int body_status(enum http_body_result res, const char **message)
{
	switch (res) {
	case BODY_OK:
		return 0;
	case BODY_TOO_LARGE:
		*message = "request body too large";
		return 413;
	case BODY_BAD_LENGTH:
		*message = "request body does not match Content-Length";
		return 400;
	case BODY_IO_ERROR:
		break;
	}
	*message = "request body could not be read";
	return 400;
}

/* Parses a body of the given media type into in; 0, or the refusal's status. */
static int parse_body(enum http_media media, const char *body, size_t len,
		      struct user_input *in, char *err, size_t errlen)
{
	if (len == 0)
		return 0;	/* no field: read_posted_user refuses it */
	if (media == MEDIA_FORM)
		return input_parse_form(in, body, len, err, errlen) != 0 ? 400 : 0;
	if (media == MEDIA_JSON) {
		switch (input_parse_json(in, body, len, err, errlen)) {
		case INPUT_OK:
			return 0;
		case INPUT_NO_MEMORY:
			return 503;	/* ours, not the client's: worth a retry */
		case INPUT_REFUSED:
			break;
		}
		return 400;
	}
	snprintf(err, errlen, "Content-Type must be"
		 " application/x-www-form-urlencoded or application/json");
	return 415;
}

/*
 * Fills in from a POST body, read into buf->input.  Returns 0, or the
 * HTTP status of the refusal with its message in err.  The body, which
 * may hold a password, is wiped whatever happens, a body refused
 * half-read included.
 */
static int read_user_input(struct http_request *r, struct route_buffers *buf,
			   struct user_input *in, char *err, size_t errlen)
{
	char *body = buf->input;
	const char *message = "";
	size_t len = 0;
	int status = body_status(http_read_body(r, body, sizeof(buf->input), &len),
				 &message);

	if (status != 0) {
		snprintf(err, errlen, "%s", message);
		explicit_bzero(body, sizeof(buf->input));
		return status;
	}
	status = parse_body(http_media_type(r), body, len, in, err, errlen);
	explicit_bzero(body, len);
	return status;
}

static void respond_created(struct http_request *r, const struct users_created *made)
{
	char body[256];

	if (r->wants_json) {
		/* Usernames are letters, digits and @.+-_: nothing to escape. */
		snprintf(body, sizeof(body), "{\"username\": \"%s\", \"num_users\": %lld}\n",
			 made->username, made->num_users);
		http_respond(r, 200, "application/json", NULL, body);
		return;
	}
	snprintf(body, sizeof(body), "User created, num users: %lld", made->num_users);
	http_respond(r, 200, "text/plain; charset=utf-8", NULL, body);
}

static void respond_failed(struct http_request *r, enum users_result res,
			   const char *err)
{
	switch (res) {
	case USERS_TAKEN:
		http_respond_error(r, 409, NULL, "username: already taken");
		return;
	case USERS_BUSY:
		log_warn("create_user: %s", err);
		http_respond_error(r, 503, retry_after, "database is locked");
		return;
	case USERS_DB_ERROR:
		log_warn("create_user: %s", err);
		http_respond_error(r, 503, retry_after, "database unavailable");
		return;
	case USERS_OK:
	case USERS_INTERNAL:
		break;
	}
	log_warn("create_user: internal error: %s", err);
	http_respond_error(r, 500, NULL, "internal error");
}

/*
 * Reads and validates a POST's fields into in.  Returns 0, or the status
 * of the refusal with its message in err.  A body that names no field is
 * refused: a client that believed it sent a name must not get a random
 * user (GET is the way to ask for one).
 */
static int read_posted_user(struct app *app, struct http_request *r,
			    struct user_input *in, char *err, size_t errlen)
{
	int status = read_user_input(r, app->buf, in, err, errlen);

	if (status != 0)
		return status;
	if (input_is_empty(in)) {
		snprintf(err, errlen, "the body names no field: send username and"
			 " password (GET /create_user/ creates a random user)");
		return 400;
	}
	return input_validate(in, err, errlen) != 0 ? 400 : 0;
}

static void handle_create_user(struct app *app, struct http_request *r)
{
	struct user_input in;
	struct users_created made;
	char err[ERR_LEN] = "";
	enum users_result res;
	int status = 0, random;

	input_init(&in);
	if (r->query[0] != '\0') {
		/* Never read (they end up in logs and histories): say so, create nothing. */
		snprintf(err, sizeof(err), "query parameters are not read: send"
			 " username and password in a POST body");
		status = 400;
	} else if (strcmp(r->method, "POST") == 0) {
		status = read_posted_user(app, r, &in, err, sizeof(err));
	}
	if (status != 0) {
		input_wipe(&in);
		http_respond_error(r, status, NULL, err);
		return;
	}
	random = input_is_empty(&in);
	if (random && users_random_input(&in) != 0) {
		log_warn("create_user: internal error: random source failed: %s",
			 strerror(errno));
		http_respond_error(r, 500, NULL, "internal error");
		return;
	}
	res = users_create(app->db, app->cfg, &in, random, &made, err, sizeof(err));
	if (res == USERS_OK)
		respond_created(r, &made);
	else
		respond_failed(r, res, err);
}
