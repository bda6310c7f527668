#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "db.h"
#include "input.h"
#include "log.h"
#include "metrics.h"
#include "password.h"
#include "rows.h"
#include "rows_input.h"
#include "users.h"
#include "users_list.h"

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

static void handle_create_user(struct app *app, struct http_request *r);
static void handle_healthz(struct app *app, struct http_request *r);
static void handle_users(struct app *app, struct http_request *r);
static void handle_users_count(struct app *app, struct http_request *r);
static void handle_metrics(struct app *app, struct http_request *r);
static void handle_rows(struct app *app, const struct rows_shape *shape,
			struct http_request *r);

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
_Static_assert(HTTP_BODY_MAX <= ROWS_FORM_MAX,
	       "every body read fits the matrix's form");

static const char retry_after[] = "Retry-After: 1\r\n";
/*
 * A COMMIT sent and never confirmed (DB_UNKNOWN): 504, never a 2xx, and no
 * Retry-After, since asking again may write the same thing twice.
 */
#define UNKNOWN_OUTCOME "commit not confirmed: the write may or may not have been" \
	" saved; check before trying again"

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
		http_respond_error(r, 503, retry_after, "database unavailable");
		return;
	}
	http_respond(r, 200, "text/plain; charset=utf-8", NULL, "ok\n");
}

/*
 * Answers a failed database operation (step: what failed, for the log, or
 * NULL): busy is worth a retry, anything else is logged.  note, when not
 * empty, is added to the answer's message.
 */
static void respond_failure(struct http_request *r, const struct commit_error *e,
			    enum db_result res, const char *note)
{
	char msg[ERR_LEN];
	const char *what = "database unavailable";
	const char *step = e->step;
	int status = 503;

	log_warn("%s: %s%s%s (%s, %d)%s", r->path, step ? step : "", step ? ": " : "",
		 e->msg, e->name, e->code, note);
	if (res == DB_BUSY || res == DB_RETRY) {
		metrics_count_busy(e->name);
		what = "database is locked";
	} else if (res == DB_INTEGRITY) {
		status = 500;
		what = "internal error";
	} else if (res == DB_UNKNOWN) {
		status = 504;
		what = UNKNOWN_OUTCOME;
	}
	snprintf(msg, sizeof(msg), "%s%s", what, note);
	http_respond_error(r, status, status == 503 ? retry_after : NULL, msg);
}

static void respond_db_failed(struct app *app, struct http_request *r,
			      const char *step, enum db_result res, const char *note)
{
	struct commit_error e;

	commit_error_set(&e, step, app->db);
	respond_failure(r, &e, res, note);
}

_Static_assert(USERS_LIST_BODY_MAX <= HTTP_RESPONSE_MAX,
	       "a full page of the longest usernames fits one response");

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
		respond_db_failed(app, r, NULL, res, "");
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
		respond_db_failed(app, r, NULL, res, "");
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
	int n;

	for (size_t i = 0; i < NROUTES; i++)
		names[i] = routes[i].path;
	names[ROUTE_OTHER] = "other";
	n = metrics_render(text, sizeof(app->buf->body), names, NROUTES + 1,
			   db_wal_bytes(app->cfg));
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
 * Reads the request's body into the serving thread's body buffer
 * (buf->input): *body and *len.  Returns 0, or the HTTP status of the
 * refusal with its message in err, the buffer then wiped (a body refused
 * half-read may hold a password).
 */
static int read_body(struct http_request *r, struct route_buffers *buf, char **body,
		     size_t *len, char *err, size_t errlen)
{
	const char *message = "";
	int status;

	*len = 0;
	status = body_status(http_read_body(r, buf->input, sizeof(buf->input), len),
			     &message);
	if (status != 0) {
		snprintf(err, errlen, "%s", message);
		explicit_bzero(buf->input, sizeof(buf->input));
		return status;
	}
	*body = buf->input;
	return 0;
}

/*
 * Fills in from a POST body.  Returns 0, or the HTTP status of the
 * refusal with its message in err.  The body, which may hold a password,
 * is wiped whatever happens.
 */
static int read_user_input(struct http_request *r, struct route_buffers *buf,
			   struct user_input *in, char *err, size_t errlen)
{
	char *body;
	size_t len;
	int status = read_body(r, buf, &body, &len, err, errlen);

	if (status != 0)
		return status;
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
	case USERS_UNKNOWN:
		log_warn("create_user: outcome unknown: %s", err);
		http_respond_error(r, 504, NULL, UNKNOWN_OUTCOME);
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
	/* bcrypt hashes 72 bytes: a longer password would be cut short, unsaid. */
	if (input_validate(in, err, errlen) != 0 ||
	    password_check_length(app->cfg->hash_method, in->f_password.len, err, errlen) != 0 ||
	    input_normalize(in, err, errlen) != 0)
		return 400;
	return 0;
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
	if (app->commit != NULL)
		res = users_create_grouped(app->commit, app->cfg, &in, random, &made,
					   err, sizeof(err));
	else
		res = users_create(app->db, app->cfg, &in, random, &made, err, sizeof(err));
	if (res == USERS_OK)
		respond_created(r, &made);
	else
		respond_failed(r, res, err);
}

/* Fills in from a write's form body; 0, or the status of the refusal with err. */
static int read_row_input(struct http_request *r, struct route_buffers *buf,
			  struct row_input *in, char *err, size_t errlen)
{
	char *body;
	size_t len;
	int status = read_body(r, buf, &body, &len, err, errlen);

	if (status != 0)
		return status;
	if (len > 0 && http_media_type(r) != MEDIA_FORM) {
		snprintf(err, errlen, "Content-Type must be application/x-www-form-urlencoded");
		return 415;
	}
	rows_input_init(in);
	if (rows_input_parse_form(in, body, len, err, errlen) != 0 ||
	    rows_input_validate(in, err, errlen) != 0)
		return 400;
	return 0;
}

/* "OK", as upstream answers; in JSON, what was read and written. */
static void respond_rows_done(struct http_request *r, const struct rows_done *done)
{
	char body[96], id[40] = "", nread[32] = "";

	if (!r->wants_json) {
		http_respond(r, 200, "text/plain; charset=utf-8", NULL, "OK");
		return;
	}
	if (done->id != 0)
		snprintf(id, sizeof(id), "\"row_id\": %lld%s", done->id,
			 done->nread >= 0 ? ", " : "");
	if (done->nread >= 0)
		snprintf(nread, sizeof(nread), "\"rows_read\": %d", done->nread);
	snprintf(body, sizeof(body), "{%s%s}\n", id, nread);
	http_respond(r, 200, "application/json", NULL, body);
}

static void handle_rows(struct app *app, const struct rows_shape *shape,
			struct http_request *r)
{
	struct row_input *in = &app->buf->row;	/* 64 KiB: not on the stack */
	struct commit_error e;
	struct rows_done done;
	char err[ERR_LEN] = "", kept[80] = "";
	bool writes = rows_writes(shape);
	int status = 0;
	enum db_result res;

	if (r->query[0] != '\0') {
		snprintf(err, sizeof(err), "query parameters are not read%s",
			 writes ? ": send the fields in a form body" : "");
		status = 400;
	} else if (writes) {
		status = read_row_input(r, app->buf, in, err, sizeof(err));
	}
	if (status != 0) {
		http_respond_error(r, status, NULL, err);
		return;
	}
	if (app->commit != NULL)
		res = rows_run_grouped(app->commit, app->db, shape, writes ? &in->row : NULL,
				       &done, &e);
	else if ((res = rows_run(app->db, shape, writes ? &in->row : NULL, &done)) != DB_OK)
		commit_error_set(&e, done.failed, app->db);
	if (res == DB_OK) {
		respond_rows_done(r, &done);
		return;
	}
	if (done.kept)
		snprintf(kept, sizeof(kept), " (after the row was written: row_id %lld)", done.id);
	respond_failure(r, &e, res, kept);
}
