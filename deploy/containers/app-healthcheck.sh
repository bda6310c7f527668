#!/bin/sh
# Healthcheck of the app container: one real FastCGI request for /healthz on
# the workers' socket (a worker answers and can read the database).
set -eu
out=$(env -i PATH=/usr/bin:/bin REQUEST_METHOD=GET DOCUMENT_URI=/healthz REQUEST_URI=/healthz \
	SCRIPT_NAME=/healthz QUERY_STRING= SERVER_PROTOCOL=HTTP/1.1 \
	timeout 4 cgi-fcgi -bind -connect "${SOCKET:-/run/sqlite-fcgi/fcgi.sock}")
case $out in
"Status: 200"*) exit 0 ;;
esac
printf '%s\n' "$out" >&2
exit 1
