#include "routes_failure.h"

#include <stdbool.h>
#include <stdio.h>

#include "log.h"
#include "metrics.h"

/* Asking again a second later is safe, and likely to work. */
static const char retry_after[] = "Retry-After: 1\r\n";

/*
 * A COMMIT sent and never confirmed (DB_UNKNOWN): never a 2xx, and no
 * Retry-After, since asking again may write the same thing twice.
 */
static const char unknown_outcome[] = "commit not confirmed: the write may or may not"
	" have been saved; check before trying again";

/* A bug's answer: asking again will not help, and the cause is only logged. */
static const char internal_error[] = "internal error";

/* What a failure is answered with, and how its log line says it. */
struct db_answer {
	int status;
	const char *what;	/* the message */
	const char *kind;	/* after who in the log line; NULL: not logged */
};

static struct db_answer answer_for(enum db_result res)
{
	switch (res) {
	case DB_CONSTRAINT:
		return (struct db_answer){ 409, "username: already taken", NULL };
	case DB_BUSY:
	case DB_RETRY:	/* rolled back as often as worth it: contention, as busy */
		return (struct db_answer){ 503, "database is locked", "" };
	case DB_UNKNOWN:
		return (struct db_answer){ 504, unknown_outcome, "outcome unknown: " };
	case DB_INTEGRITY:
		return (struct db_answer){ 500, internal_error, "internal error: " };
	case DB_OK:
	case DB_ERR:
		break;
	}
	return (struct db_answer){ 503, "database unavailable", "" };
}

void respond_unavailable(struct http_request *r, const char *msg)
{
	http_respond_error(r, 503, retry_after, msg);
}

void respond_internal(struct http_request *r, const char *who, const char *cause)
{
	log_warn("%s: internal error: %s", who, cause);
	http_respond_error(r, 500, NULL, internal_error);
}

void respond_db_failure(struct http_request *r, const char *who,
			const struct db_failure *f, const char *note)
{
	struct db_answer a = answer_for(f->res);
	bool step = f->step != NULL;
	char msg[ERR_LEN];

	if (a.kind != NULL)
		log_warn("%s: %s%s%s%s (%s, %d)%s", who, a.kind, step ? f->step : "",
			 step ? ": " : "", f->msg, f->name, f->code, note);
	if (f->res == DB_BUSY || f->res == DB_RETRY)
		metrics_count_busy(f->name);
	snprintf(msg, sizeof(msg), "%s%s", a.what, note);
	http_respond_error(r, a.status, a.status == 503 ? retry_after : NULL, msg);
}
