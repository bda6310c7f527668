#include "accept.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* q is kept in thousandths (0..1000): HTTP allows three decimals. */
#define Q_MAX 1000
#define Q_NONE (-1)

struct range {
	const char *type, *subtype;	/* within the header, not terminated */
	size_t typelen, subtypelen;
	int q;				/* Q_NONE: malformed, ignored */
};

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* "1", "1.000", "0", "0.5", "0.123": thousandths, or Q_NONE. */
static int parse_q(const char *p, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return Q_NONE;
	q = (p[0] - '0') * Q_MAX;
	if (n == 1)
		return q;
	if (p[1] != '.' || n > 5)
		return Q_NONE;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (!isdigit((unsigned char)p[i]))
			return Q_NONE;
		q += (p[i] - '0') * scale;
	}
	return q <= Q_MAX ? q : Q_NONE;
}

/* Reads the parameters after a media type up to end; only q matters. */
static int parse_params(const char *p, const char *end)
{
	int q = Q_MAX;

	while (p < end && *p == ';') {
		const char *name = skip_ows(p + 1);
		const char *next = memchr(name, ';', (size_t)(end - name));
		const char *stop = next != NULL ? next : end;
		size_t vlen;

		if (stop - name >= 2 && strncasecmp(name, "q=", 2) == 0) {
			vlen = (size_t)(stop - name - 2);
			while (vlen > 0 && (name[2 + vlen - 1] == ' ' || name[2 + vlen - 1] == '\t'))
				vlen--;
			q = parse_q(name + 2, vlen);
		}
		p = stop;
	}
	return q;
}

/* Parses one element "type/subtype *( ; param )" between p and end. */
static struct range parse_range(const char *p, const char *end)
{
	struct range r = { .q = Q_NONE };
	const char *slash, *params;

	p = skip_ows(p);
	params = memchr(p, ';', (size_t)(end - p));
	if (params == NULL)
		params = end;
	slash = memchr(p, '/', (size_t)(params - p));
	if (slash == NULL || slash == p)
		return r;
	r.type = p;
	r.typelen = (size_t)(slash - p);
	r.subtype = slash + 1;
	r.subtypelen = (size_t)(params - r.subtype);
	while (r.subtypelen > 0 && (r.subtype[r.subtypelen - 1] == ' ' ||
				    r.subtype[r.subtypelen - 1] == '\t'))
		r.subtypelen--;
	if (r.subtypelen == 0)
		return r;
	r.q = parse_params(params, end);
	return r;
}

static bool token_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

/* 3: type/subtype, 2: type/ *, 1: * / *, 0: no match. */
static int specificity(const struct range *r, const char *type, const char *subtype)
{
	if (token_is(r->type, r->typelen, "*"))
		return token_is(r->subtype, r->subtypelen, "*") ? 1 : 0;
	if (!token_is(r->type, r->typelen, type))
		return 0;
	if (token_is(r->subtype, r->subtypelen, "*"))
		return 2;
	return token_is(r->subtype, r->subtypelen, subtype) ? 3 : 0;
}

/* The q the header gives type/subtype: that of its most specific range. */
static int quality(const char *accept, const char *type, const char *subtype)
{
	int best = 0, q = 0;

	for (const char *p = accept; *p != '\0';) {
		const char *comma = strchr(p, ',');
		const char *end = comma != NULL ? comma : p + strlen(p);
		struct range r = parse_range(p, end);
		int spec = r.q == Q_NONE ? 0 : specificity(&r, type, subtype);

		if (spec > best) {
			best = spec;
			q = r.q;
		}
		p = comma != NULL ? comma + 1 : end;
	}
	return q;
}

bool accept_prefers_json(const char *accept)
{
	int json = quality(accept, "application", "json");

	return json > 0 && json > quality(accept, "text", "plain");
}
