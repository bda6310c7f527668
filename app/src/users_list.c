#include "users_list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal in [min, max] spelled with digits only; -1 when not. */
static int parse_number(const char *v, size_t n, long long min, long long max,
			long long *out)
{
	char buf[24];
	char *end;
	long long x;

	if (n == 0 || n >= sizeof(buf) || strspn(v, "0123456789") < n)
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* Applies one "name=value" pair; seen[] catches repeats. */
static int parse_pair(const char *p, size_t n, struct users_list_query *q,
		      bool seen[2], char *err, size_t errlen)
{
	const char *eq = memchr(p, '=', n);
	size_t namelen = eq != NULL ? (size_t)(eq - p) : n;
	const char *v = eq != NULL ? eq + 1 : p + n;
	size_t vlen = (size_t)(p + n - v);
	long long x;
	int which = namelen == 5 && memcmp(p, "limit", 5) == 0 ? 0 :
		    namelen == 8 && memcmp(p, "after_id", 8) == 0 ? 1 : -1;

	if (which < 0) {
		snprintf(err, errlen, "unknown query parameter: expected limit, after_id");
		return -1;
	}
	if (seen[which]) {
		snprintf(err, errlen, "%s: given more than once", which ? "after_id" : "limit");
		return -1;
	}
	seen[which] = true;
	if (which == 0 && parse_number(v, vlen, 1, DB_PAGE_MAX, &x) == 0) {
		q->limit = (int)x;
		return 0;
	}
	if (which == 1 && parse_number(v, vlen, 1, 9223372036854775807LL, &x) == 0) {
		q->after_id = x;
		return 0;
	}
	if (which == 0)
		snprintf(err, errlen, "limit: must be a whole number from 1 to %d", DB_PAGE_MAX);
	else
		snprintf(err, errlen, "after_id: must be a user id (a whole number from 1)");
	return -1;
}

int users_list_parse(const char *query, struct users_list_query *q, char *err,
		     size_t errlen)
{
	bool seen[2] = { false, false };

	q->limit = USERS_LIST_DEFAULT;
	q->after_id = 0;
	for (const char *p = query; *p != '\0';) {
		size_t n = strcspn(p, "&");

		if (n > 0 && parse_pair(p, n, q, seen, err, errlen) != 0)
			return -1;
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* Appends s as a JSON string (quoted, escaped); false when out is full. */
static bool put_text(char *out, size_t outlen, size_t *o, const char *text)
{
	int w = snprintf(out + *o, outlen - *o, "%s", text);

	if (w < 0 || (size_t)w >= outlen - *o)
		return false;
	*o += (size_t)w;
	return true;
}

static bool put_json_string(char *out, size_t outlen, size_t *o, const char *s)
{
	if (*o + 1 >= outlen)
		return false;
	out[(*o)++] = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		int w;

		if (*c == '"' || *c == '\\')
			w = snprintf(out + *o, outlen - *o, "\\%c", *c);
		else if (*c < 0x20)
			w = snprintf(out + *o, outlen - *o, "\\u%04x", *c);
		else
			w = snprintf(out + *o, outlen - *o, "%c", *c);
		if (w < 0 || (size_t)w >= outlen - *o)
			return false;
		*o += (size_t)w;
	}
	if (*o + 1 >= outlen)
		return false;
	out[(*o)++] = '"';
	out[*o] = '\0';
	return true;
}

/* Appends before, the number x, then after; false when out is full. */
static bool put(char *out, size_t outlen, size_t *o, const char *before,
		long long x, const char *after)
{
	int w = snprintf(out + *o, outlen - *o, "%s%lld%s", before, x, after);

	if (w < 0 || (size_t)w >= outlen - *o)
		return false;
	*o += (size_t)w;
	return true;
}

static int render_json(const struct db_user_row *rows, int n, int limit,
		       long long count, char *out, size_t outlen)
{
	size_t o = 0;
	bool ok = put(out, outlen, &o, "{\"count\": ", count, ", \"users\": [");

	for (int i = 0; ok && i < n; i++)
		ok = put(out, outlen, &o, i ? ", {\"id\": " : "{\"id\": ", rows[i].id,
			 ", \"username\": ") &&
		     put_json_string(out, outlen, &o, rows[i].username) &&
		     put_text(out, outlen, &o, ", \"date_joined\": ") &&
		     put_json_string(out, outlen, &o, rows[i].date_joined) &&
		     put_text(out, outlen, &o, "}");
	/* A full page may have more after it; a short one is the last. */
	if (ok && n == limit && n > 0)
		ok = put(out, outlen, &o, "], \"next_after_id\": ", rows[n - 1].id, "}\n");
	else if (ok)
		ok = put_text(out, outlen, &o, "], \"next_after_id\": null}\n");
	return ok ? 0 : -1;
}

static int render_text(const struct db_user_row *rows, int n, long long count,
		       char *out, size_t outlen)
{
	size_t o = 0;
	bool ok = put(out, outlen, &o, "num users: ", count, "\n");

	for (int i = 0; ok && i < n; i++) {
		int w = snprintf(out + o, outlen - o, "%lld %s %s\n", rows[i].id,
				 rows[i].username, rows[i].date_joined);

		ok = w >= 0 && (size_t)w < outlen - o;
		if (ok)
			o += (size_t)w;
	}
	return ok ? 0 : -1;
}

int users_list_render(bool json, const struct db_user_row *rows, int n, int limit,
		      long long count, char *out, size_t outlen)
{
	return json ? render_json(rows, n, limit, count, out, outlen)
		    : render_text(rows, n, count, out, outlen);
}
