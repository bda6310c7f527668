#ifndef SQLITE_FCGI_HTTP_H
#define SQLITE_FCGI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <fcgiapp.h>

/*
 * FastCGI request and response helpers: the only place, with server.c's
 * accept loop, that touches libfcgi.
 */

/* The largest request body read; nginx refuses larger ones first (413). */
#define HTTP_BODY_MAX (64 * 1024)
/*
 * The largest response body: a full page of GET /users/ at its worst
 * (USERS_LIST_BODY_MAX, about 390 KB), then the /metrics text.
 */
#define HTTP_RESPONSE_MAX (512 * 1024)
/* A whole response: the headers and the largest body. */
#define HTTP_OUT_MAX (HTTP_RESPONSE_MAX + 512)
/* The longest path kept from REQUEST_URI (when nginx sends no DOCUMENT_URI). */
#define HTTP_PATH_MAX 2048

enum http_media { MEDIA_NONE, MEDIA_FORM, MEDIA_JSON, MEDIA_OTHER };

struct http_request {
	FCGX_Request *fcgx;
	const char *method;
	const char *path;	/* without the query string */
	const char *query;	/* the query string, "" when none */
	const char *content_type;
	const char *content_length;
	bool wants_json;	/* Accept prefers application/json (accept.h) */
	int status;		/* of the response sent, 0 before */
	char *out;		/* HTTP_OUT_MAX bytes the response is built in */
	char path_copy[HTTP_PATH_MAX];	/* path, when cut from REQUEST_URI */
};

/*
 * Reads the request's parameters (never NULL afterwards, "" when absent).
 * out (HTTP_OUT_MAX bytes) is where the response will be built: the
 * caller's, e.g. one per serving thread, reused request after request,
 * so that answering allocates nothing and shares nothing between threads.
 */
void http_request_init(struct http_request *r, FCGX_Request *fcgx, char *out);

enum http_media http_media_type(const struct http_request *r);

enum http_body_result { BODY_OK, BODY_TOO_LARGE, BODY_BAD_LENGTH, BODY_IO_ERROR };
/*
 * Reads the whole body into buf (cap bytes; at most HTTP_BODY_MAX are
 * accepted) and sets *len.  BODY_BAD_LENGTH when CONTENT_LENGTH is
 * malformed or does not match what arrived.
 */
enum http_body_result http_read_body(struct http_request *r, char *buf,
				     size_t cap, size_t *len);

/*
 * Sends a complete response in one write: status, Content-Type, optional
 * extra header lines (each ending in "\r\n", or NULL), and body.
 * Returns 0, or -1 when the client went away, already logged here: the
 * caller has nothing left to do with it (the three http_respond* alike).
 */
int http_respond(struct http_request *r, int status, const char *content_type,
		 const char *extra_headers, const char *body);

/* A response without a body (204): the status and extra header lines. */
int http_respond_empty(struct http_request *r, int status, const char *extra_headers);

/*
 * An error response: text/plain with message, or {"error": message} when
 * the client asked for JSON.
 */
int http_respond_error(struct http_request *r, int status,
		       const char *extra_headers, const char *message);

/* The reason phrase of a status of the table in http.c ("Unknown" else). */
const char *http_reason(int status);

/*
 * The statuses this service answers, one table in http.c; GET /metrics
 * counts requests by their index in it.
 */
#define HTTP_NSTATUSES 11
/* The index of status in the table, or HTTP_NSTATUSES for any other. */
size_t http_status_index(int status);
/* The status at index i (below HTTP_NSTATUSES). */
int http_status_at(size_t i);

#endif
