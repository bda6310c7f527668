#include "db_pg_conn.h"
#include "db_pg_mask.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * DATABASE_URL printed without its secrets: every part of the printed URL
 * comes from libpq's own parse of it, and the secret options' values are
 * never copied (see db_pg_mask.h).
 */

#define MASK "***"

bool pg_option_is_secret(const PQconninfoOption *o)
{
	return (o->dispchar != NULL && strchr(o->dispchar, '*') != NULL) ||
	       strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0;
}

void pg_conninfo_free(PQconninfoOption *opts)
{
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (o->val != NULL && pg_option_is_secret(o))
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);	/* NULL is a no-op */
}

/* The printed URL, growing in a caller's buffer; cut short when full. */
struct url_text {
	char *out;
	size_t len, cap;
};

static void put(struct url_text *t, const char *s, size_t n)
{
	if (t->len + 1 >= t->cap)
		return;
	if (n > t->cap - 1 - t->len)
		n = t->cap - 1 - t->len;
	memcpy(t->out + t->len, s, n);
	t->len += n;
	t->out[t->len] = '\0';
}

static void puts_raw(struct url_text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* s percent-encoded: unreserved characters and those in keep stay as they are. */
static void put_encoded(struct url_text *t, const char *s, const char *keep)
{
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		char hex[4];

		if (isalnum(*c) || strchr("-._~", *c) != NULL || strchr(keep, *c) != NULL) {
			put(t, (const char *)c, 1);
			continue;
		}
		snprintf(hex, sizeof(hex), "%%%02X", *c);
		put(t, hex, 3);
	}
}

static const char *value_of(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL && o->val[0] != '\0')
			return o->val;
	return NULL;
}

/* One host, and its port, fit in the URL's authority; a list goes to the query. */
static bool host_in_authority(const PQconninfoOption *opts)
{
	const char *host = value_of(opts, "host"), *port = value_of(opts, "port");

	return host != NULL && strchr(host, ',') == NULL &&
	       (port == NULL || strchr(port, ',') == NULL);
}

static void put_authority(struct url_text *t, const PQconninfoOption *opts)
{
	const char *user = value_of(opts, "user"), *host = value_of(opts, "host");
	const char *port = value_of(opts, "port");

	if (user != NULL)
		put_encoded(t, user, "");
	if (value_of(opts, "password") != NULL)
		puts_raw(t, ":" MASK);
	if (user != NULL || value_of(opts, "password") != NULL)
		puts_raw(t, "@");
	if (!host_in_authority(opts))
		return;
	/* An IPv6 address in brackets; a socket directory's '/' encoded. */
	if (strchr(host, ':') != NULL && strchr(host, '/') == NULL) {
		puts_raw(t, "[");
		puts_raw(t, host);
		puts_raw(t, "]");
	} else {
		put_encoded(t, host, "");
	}
	if (port != NULL) {
		puts_raw(t, ":");
		put_encoded(t, port, "");
	}
}

/* Whether the authority or the path already printed keyword's value. */
static bool printed_before(const PQconninfoOption *opts, const char *keyword)
{
	if (strcmp(keyword, "user") == 0 || strcmp(keyword, "password") == 0 ||
	    strcmp(keyword, "dbname") == 0)
		return true;
	return (strcmp(keyword, "host") == 0 || strcmp(keyword, "port") == 0) &&
	       host_in_authority(opts);
}

static void put_query(struct url_text *t, const PQconninfoOption *opts)
{
	char sep = '?';

	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0' || printed_before(opts, o->keyword))
			continue;
		put(t, &sep, 1);
		sep = '&';
		puts_raw(t, o->keyword);
		puts_raw(t, "=");
		if (pg_option_is_secret(o))
			puts_raw(t, MASK);
		else
			put_encoded(t, o->val, "/:,@");
	}
}

bool pg_url_has_stray_at(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL)
		return false;
	/* libpq's user info ends at the first '@', unless a '/' comes first. */
	p += strcspn(p + 3, "@/") + 3;
	if (*p == '@')
		p++;
	/* The host, port and database name run to the query's '?'. */
	return memchr(p, '@', strcspn(p, "?")) != NULL;
}

void pg_mask_url(const char *url, char *out, size_t outlen)
{
	struct url_text t = { .out = out, .len = 0, .cap = outlen };
	const char *scheme_end = strstr(url, "://");
	PQconninfoOption *opts;

	if (outlen == 0)
		return;
	out[0] = '\0';
	put(&t, url, scheme_end != NULL ? (size_t)(scheme_end - url) : 0);
	puts_raw(&t, "://");
	if (pg_url_has_stray_at(url)) {
		puts_raw(&t, "(not shown: an unencoded '@' in it)");
		return;
	}
	opts = PQconninfoParse(url, NULL);
	if (opts == NULL) {
		puts_raw(&t, "(not shown: libpq cannot parse it)");
		return;
	}
	put_authority(&t, opts);
	if (value_of(opts, "dbname") != NULL) {
		puts_raw(&t, "/");
		put_encoded(&t, value_of(opts, "dbname"), "");
	}
	put_query(&t, opts);
	pg_conninfo_free(opts);
}

bool pg_url_message_is_safe(const char *url)
{
	const char *word = "password";

	if (strchr(url, '@') != NULL || strchr(url, '%') != NULL)
		return false;
	for (const char *p = url; *p != '\0'; p++)
		if (strncasecmp(p, word, strlen(word)) == 0)
			return false;
	return true;
}
