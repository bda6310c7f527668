/*
 * libFuzzer target: the request line and headers as nginx hands them to a
 * worker.  The input is split at newlines into REQUEST_URI, DOCUMENT_URI,
 * REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH and HTTP_ACCEPT; they go
 * through http_request_init (path from the URI, Accept) and
 * http_media_type, and the query string after '?' through the
 * percent-decoding of input_parse_form, as a form body would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http.h"
#include "input.h"

static const char *const names[] = {
	"REQUEST_URI", "DOCUMENT_URI", "REQUEST_METHOD", "CONTENT_TYPE",
	"CONTENT_LENGTH", "HTTP_ACCEPT",
};
#define NPARAMS (sizeof(names) / sizeof(names[0]))

/* Copies "NAME=value" into out; value ends at a newline, NUL or the end. */
static size_t param(char *out, size_t outlen, const char *name,
		    const uint8_t *data, size_t size)
{
	size_t n = strlen(name), v = 0;

	memcpy(out, name, n);
	out[n++] = '=';
	while (v < size && data[v] != '\n' && data[v] != '\0' && n + 1 < outlen)
		out[n++] = (char)data[v++];
	out[n] = '\0';
	return v < size ? v + 1 : v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char storage[NPARAMS][8192];
	static char out[HTTP_OUT_MAX];
	static struct user_input in;
	char *envp[NPARAMS + 1];
	char err[ERR_LEN];
	FCGX_Request fcgx;
	struct http_request r;
	const char *query;

	for (size_t i = 0, off = 0; i < NPARAMS; i++) {
		off += param(storage[i], sizeof(storage[i]), names[i], data + off, size - off);
		envp[i] = storage[i];
	}
	envp[NPARAMS] = NULL;
	memset(&fcgx, 0, sizeof(fcgx));
	fcgx.envp = envp;
	http_request_init(&r, &fcgx, out);
	if (r.method == NULL || r.path == NULL || r.content_type == NULL ||
	    r.content_length == NULL)
		abort();
	/* Without DOCUMENT_URI the path is REQUEST_URI cut at the query string. */
	if (storage[1][sizeof("DOCUMENT_URI=") - 1] == '\0' && strchr(r.path, '?') != NULL)
		abort();
	if (http_media_type(&r) > MEDIA_OTHER)
		abort();
	query = strchr(storage[0], '?');
	if (query == NULL)
		return 0;
	input_init(&in);
	memset(err, 'x', sizeof(err));
	if (input_parse_form(&in, query + 1, strlen(query + 1), err, sizeof(err)) != 0)
		fuzz_check_message(err, sizeof(err));
	else
		fuzz_check_fields(&in);
	input_wipe(&in);
	return 0;
}
