#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accept.h"
#include "log.h"

static const char *param(FCGX_Request *f, const char *name)
{
	const char *v = FCGX_GetParam(name, f->envp);

	return v ? v : "";
}

/*
 * DOCUMENT_URI is nginx's normalised path; REQUEST_URI is the fallback,
 * cut at the query string into r's own copy.
 */
static const char *request_path(struct http_request *r, FCGX_Request *f)
{
	const char *uri = param(f, "DOCUMENT_URI");
	size_t n;

	if (uri[0] != '\0')
		return uri;
	uri = param(f, "REQUEST_URI");
	n = strcspn(uri, "?");
	if (n >= sizeof(r->path_copy))
		n = sizeof(r->path_copy) - 1;
	memcpy(r->path_copy, uri, n);
	r->path_copy[n] = '\0';
	return r->path_copy;
}

void http_request_init(struct http_request *r, FCGX_Request *fcgx, char *out)
{
	r->fcgx = fcgx;
	r->out = out;
	r->method = param(fcgx, "REQUEST_METHOD");
	r->path = request_path(r, fcgx);
	r->content_type = param(fcgx, "CONTENT_TYPE");
	r->content_length = param(fcgx, "CONTENT_LENGTH");
	r->query = param(fcgx, "QUERY_STRING");
	r->wants_json = accept_prefers_json(param(fcgx, "HTTP_ACCEPT"));
	r->status = 0;
}

/* Compares the media type (before any ';' parameters) case-insensitively. */
static bool media_is(const char *content_type, const char *want)
{
	size_t n = strlen(want);

	if (strncasecmp(content_type, want, n) != 0)
		return false;
	return content_type[n] == '\0' || content_type[n] == ';' ||
	       content_type[n] == ' ' || content_type[n] == '\t';
}

enum http_media http_media_type(const struct http_request *r)
{
	if (r->content_type[0] == '\0')
		return MEDIA_NONE;
	if (media_is(r->content_type, "application/x-www-form-urlencoded"))
		return MEDIA_FORM;
	if (media_is(r->content_type, "application/json"))
		return MEDIA_JSON;
	return MEDIA_OTHER;
}

/* -1 when CONTENT_LENGTH is absent, -2 when malformed. */
static long declared_length(const struct http_request *r)
{
	char *end;
	long n;

	if (r->content_length[0] == '\0')
		return -1;
	errno = 0;
	n = strtol(r->content_length, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || r->content_length[0] == '-')
		return -2;
	return n;
}

enum http_body_result http_read_body(struct http_request *r, char *buf,
				     size_t cap, size_t *len)
{
	long declared = declared_length(r);
	size_t limit = cap < HTTP_BODY_MAX ? cap : HTTP_BODY_MAX;
	char extra;
	int got;

	if (declared == -2)
		return BODY_BAD_LENGTH;
	if (declared > (long)limit)
		return BODY_TOO_LARGE;
	/* Read to the end of the stream: chunked bodies come without a length. */
	got = FCGX_GetStr(buf, (int)limit, r->fcgx->in);
	if (got < 0 || FCGX_GetError(r->fcgx->in) != 0)
		return BODY_IO_ERROR;
	if ((size_t)got == limit && FCGX_GetStr(&extra, 1, r->fcgx->in) == 1)
		return BODY_TOO_LARGE;
	if (declared >= 0 && (long)got != declared)
		return BODY_BAD_LENGTH;
	*len = (size_t)got;
	return BODY_OK;
}

static const struct {
	int status;
	const char *reason;
} statuses[] = {
	{ 200, "OK" },
	{ 204, "No Content" },
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

_Static_assert(sizeof(statuses) / sizeof(statuses[0]) == HTTP_NSTATUSES,
	       "HTTP_NSTATUSES must count the rows of statuses[]");

size_t http_status_index(int status)
{
	size_t i = 0;

	while (i < HTTP_NSTATUSES && statuses[i].status != status)
		i++;
	return i;
}

int http_status_at(size_t i)
{
	return statuses[i].status;
}

const char *http_reason(int status)
{
	size_t i = http_status_index(status);

	return i < HTTP_NSTATUSES ? statuses[i].reason : "Unknown";
}

/*
 * On every answer: a browser must take the Content-Type as given, never
 * guess HTML or script from a body that echoes client input.
 */
#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

/*
 * Writes the n bytes of a whole response, headers and body, in one write:
 * it leaves in as few records as libfcgi can.  0, or -1 (logged).
 */
static int put_response(struct http_request *r, int status, const char *out, int n)
{
	r->status = status;
	if (FCGX_PutStr(out, n, r->fcgx->out) != n) {
		log_warn("writing the response to %s failed: %s", r->path,
			 strerror(FCGX_GetError(r->fcgx->out)));
		return -1;
	}
	return 0;
}

int http_respond(struct http_request *r, int status, const char *content_type,
		 const char *extra_headers, const char *body)
{
	/* The request's buffer: nothing allocated, nothing shared with other threads. */
	char *out = r->out;
	size_t blen = strlen(body);
	int n = snprintf(out, HTTP_OUT_MAX,
			 "Status: %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\n"
			 NOSNIFF "%s\r\n%s",
			 status, http_reason(status), content_type, blen,
			 extra_headers ? extra_headers : "", body);

	if (n < 0 || n >= HTTP_OUT_MAX) {
		log_warn("%s: response to %s too long", __func__, r->path);
		return http_respond(r, 500, "text/plain; charset=utf-8", NULL,
				    "internal error\n");
	}
	return put_response(r, status, out, n);
}

int http_respond_empty(struct http_request *r, int status, const char *extra_headers)
{
	char out[512];
	/* No Content-Length and no Content-Type: a 204 has no body at all. */
	int n = snprintf(out, sizeof(out), "Status: %d %s\r\n" NOSNIFF "%s\r\n", status,
			 http_reason(status), extra_headers ? extra_headers : "");

	if (n < 0 || (size_t)n >= sizeof(out))
		return http_respond(r, 500, "text/plain; charset=utf-8", NULL,
				    "internal error\n");
	return put_response(r, status, out, n);
}

/* Writes message as a JSON string body; control characters become spaces. */
static void json_error_body(const char *message, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen, "{\"error\": \"");

	for (const char *m = message; *m && o + 8 < outlen; m++) {
		unsigned char c = (unsigned char)*m;

		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = c < 0x20 ? ' ' : (char)c;
	}
	snprintf(out + o, outlen - o, "\"}\n");
}

int http_respond_error(struct http_request *r, int status,
		       const char *extra_headers, const char *message)
{
	char body[1024];

	if (r->wants_json) {
		json_error_body(message, body, sizeof(body));
		return http_respond(r, status, "application/json", extra_headers, body);
	}
	snprintf(body, sizeof(body), "%s\n", message);
	return http_respond(r, status, "text/plain; charset=utf-8", extra_headers, body);
}
