#ifndef SQLITE_FCGI_ACCEPT_H
#define SQLITE_FCGI_ACCEPT_H

#include <stdbool.h>

/*
 * Content negotiation between the two types this service writes,
 * text/plain and application/json, from an Accept header (RFC 9110,
 * 12.5.1): media ranges with q-values, the most specific range that
 * matches a type giving its q.  Nothing here touches libfcgi.
 */

/*
 * True when accept (NUL-terminated, "" when absent) prefers
 * application/json to text/plain: JSON's q is above 0 and above text's.
 * A tie, no header, or only unknown types give text, as before there was
 * JSON.  "application/jsonp" is another type; "application/json;q=0" is
 * a refusal.
 */
bool accept_prefers_json(const char *accept);

#endif
