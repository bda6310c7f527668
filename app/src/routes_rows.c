#include "routes_rows.h"

#include <stdio.h>
#include <string.h>

#include "rows_input.h"
#include "routes_failure.h"
#include "routes_io.h"

_Static_assert(HTTP_BODY_MAX <= ROWS_FORM_MAX,
	       "every body read fits the matrix's form");

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

void handle_rows(struct app *app, const struct rows_shape *shape,
		 struct http_request *r)
{
	struct row_input *in = &app->buf->row;	/* 64 KiB: not on the stack */
	struct db_failure fail;
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
				       &done, &fail);
	else if ((res = rows_run(app->db, shape, writes ? &in->row : NULL, &done)) != DB_OK)
		db_failure_set(&fail, res, done.failed, app->db);
	if (res == DB_OK) {
		respond_rows_done(r, &done);
		return;
	}
	if (done.kept)
		snprintf(kept, sizeof(kept), " (after the row was written: row_id %lld)", done.id);
	respond_db_failure(r, r->path, &fail, kept);
}
