#include "routes_users.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "input.h"
#include "password.h"
#include "routes_failure.h"
#include "routes_io.h"
#include "users.h"
#include "users_list.h"

_Static_assert(USERS_LIST_BODY_MAX <= HTTP_RESPONSE_MAX,
	       "a full page of the longest usernames fits one response");

/* Answers res, a failure of db_users_page on app->db. */
static void respond_page_failed(struct app *app, struct http_request *r, enum db_result res)
{
	struct db_failure fail;

	db_failure_set(&fail, res, NULL, app->db);
	respond_db_failure(r, r->path, &fail, "");
}

void handle_users(struct app *app, struct http_request *r)
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
		respond_page_failed(app, r, res);
		return;
	}
	if (users_list_render(r->wants_json, rows, n, q.limit, count, body,
			      sizeof(app->buf->body)) != 0) {
		respond_internal(r, "users", "the page does not fit the response");
		return;
	}
	http_respond(r, 200, r->wants_json ? "application/json"
					   : "text/plain; charset=utf-8", NULL, body);
}

void handle_users_count(struct app *app, struct http_request *r)
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
		respond_page_failed(app, r, res);
		return;
	}
	snprintf(body, sizeof(body), r->wants_json ? "{\"count\": %lld}\n" : "%lld\n", count);
	http_respond(r, 200, r->wants_json ? "application/json"
					   : "text/plain; charset=utf-8", NULL, body);
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

/*
 * Creates the user in (random: one of users_random_input) with the
 * worker's group commit when it has one, and answers.
 */
static void create_and_respond(struct app *app, struct http_request *r,
			       struct user_input *in, int random)
{
	struct users_created made;
	struct db_failure fail;
	char err[ERR_LEN] = "";
	enum users_result res;

	if (app->commit != NULL)
		res = users_create_grouped(app->commit, app->cfg, in, random, &made,
					   &fail, err, sizeof(err));
	else
		res = users_create(app->db, app->cfg, in, random, &made, &fail,
				   err, sizeof(err));
	if (res == USERS_OK)
		respond_created(r, &made);
	else if (res == USERS_DB_FAILED)
		respond_db_failure(r, "create_user", &fail, "");
	else
		respond_internal(r, "create_user", err);
}

void handle_create_user(struct app *app, struct http_request *r)
{
	struct user_input in;
	char err[ERR_LEN] = "";
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
		snprintf(err, sizeof(err), "random source failed: %s", strerror(errno));
		respond_internal(r, "create_user", err);
		return;
	}
	create_and_respond(app, r, &in, random);
}
