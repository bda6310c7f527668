#include "routes_io.h"

#include <stdio.h>
#include <string.h>

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
