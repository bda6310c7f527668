#include "routes_io.h"

#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "log.h"
#include "metrics.h"

const char retry_after[] = "Retry-After: 1\r\n";

void respond_failure(struct http_request *r, const struct commit_error *e,
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

void respond_db_failed(struct app *app, struct http_request *r,
		       const char *step, enum db_result res, const char *note)
{
	struct commit_error e;

	commit_error_set(&e, step, app->db);
	respond_failure(r, &e, res, note);
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

int read_body(struct http_request *r, struct route_buffers *buf, char **body,
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
