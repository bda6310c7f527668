#include "config_value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "config_table.h"

/*
 * Each kind of value a setting takes, parsed and checked against its row
 * of the table (config.c): a choice, a whole number in a range, a path, a
 * list of endpoints or of addresses, DATABASE_URL (config_url.c).
 */

static int parse_choice(const struct setting *s, const char *name, const char *v,
			int *out, char *err, size_t errlen)
{
	size_t used;

	for (size_t i = 0; i < s->nchoices; i++) {
		if (strcmp(v, s->choices[i].name) == 0) {
			*out = s->choices[i].value;
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "%s=%s: must be one of", name, v);
	for (size_t i = 0; i < s->nchoices && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, "%s %s",
					 i ? "," : "", s->choices[i].name);
	return -1;
}

static int parse_long(const struct setting *s, const char *name, const char *v,
		      long *out, char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < s->min || n > s->max) {
		snprintf(err, errlen, "%s=%s: must be a whole number from %ld to %ld",
			 name, v, s->min, s->max);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_path(const char *name, const char *v, char *out,
		      char *err, size_t errlen)
{
	if (strlen(v) >= CONFIG_PATH_MAX) {
		snprintf(err, errlen, "%s: must be shorter than %d bytes", name,
			 CONFIG_PATH_MAX);
		return -1;
	}
	strcpy(out, v);
	return 0;
}

/*
 * One endpoint of a SETTING_ENDPOINTS list, entry[0..n): unix:/PATH or
 * /PATH (unless tcp_only), else HOST:PORT with PORT from 1 to 65535.
 * spawn-fcgi (the pool's address) and nginx/render.sh (the upstreams it
 * writes) check the host part further.
 */
static bool endpoint_ok(const char *entry, size_t n, bool tcp_only)
{
	size_t colon = n, digits;
	long port = 0;

	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)entry[i]))
			return false;
		if (entry[i] == ':')
			colon = i;
	}
	if (!tcp_only && entry[0] == '/')
		return n > 1;
	if (!tcp_only && n > 6 && strncmp(entry, "unix:/", 6) == 0)
		return true;
	if (colon == 0 || colon == n)
		return false;
	digits = n - colon - 1;
	if (digits == 0 || digits > 5)
		return false;
	for (size_t i = colon + 1; i < n; i++) {
		if (!isdigit((unsigned char)entry[i]))
			return false;
		port = port * 10 + (entry[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Checks a comma-separated list of endpoints, then stores it. */
static int parse_endpoints(const struct setting *s, const char *name, const char *v,
			   char *out, char *err, size_t errlen)
{
	const char *p = v;

	/* Empty: unset.  Else entries between commas, none of them empty. */
	for (long count = 1; *v != '\0'; count++) {
		size_t n = strcspn(p, ",");

		if (n == 0 || !endpoint_ok(p, n, s->min == 1) || count > s->max) {
			snprintf(err, errlen, "%s=%s: must be %s", name, v, s->min == 1 ?
				 "ADDR:PORT" : "HOST:PORT, unix:/PATH or /PATH, comma-separated");
			return -1;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return parse_path(name, v, out, err, errlen);
}

/* One entry of a SETTING_ADDRESSES list: ADDR or ADDR/BITS, IPv4 or IPv6. */
static bool address_ok(const char *entry, size_t n)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *slash = memchr(entry, '/', n);
	size_t alen = slash ? (size_t)(slash - entry) : n;
	long bits = -1, most;
	int family;

	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, entry, alen);
	addr[alen] = '\0';
	family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, addr, bin) != 1)
		return false;
	if (slash == NULL)
		return true;
	most = family == AF_INET6 ? 128 : 32;
	for (const char *d = slash + 1; d < entry + n; d++) {
		if (!isdigit((unsigned char)*d) || bits > most)
			return false;
		bits = (bits < 0 ? 0 : bits * 10) + (*d - '0');
	}
	return bits >= 0 && bits <= most;
}

/* Checks a comma-separated list of addresses, then stores it. */
static int parse_addresses(const struct setting *s, const char *name, const char *v,
			   char *out, char *err, size_t errlen)
{
	const char *p = v;

	for (long count = 1;; count++) {
		size_t n = strcspn(p, ",");

		if (!address_ok(p, n) || count > s->max) {
			snprintf(err, errlen, "%s=%s: must be IPv4 or IPv6 addresses, each with"
				 " an optional /BITS (127.0.0.0/8, ::1), comma-separated, at most"
				 " %ld", name, v, s->max);
			return -1;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return parse_path(name, v, out, err, errlen);
}

int setting_store(const struct setting *s, const char *name, const char *v,
		  struct config *cfg, char *err, size_t errlen)
{
	void *field = (char *)cfg + s->offset;

	switch (s->type) {
	case SETTING_PATH:
		return parse_path(name, v, field, err, errlen);
	case SETTING_CHOICE:
		/* The enums of config.h are int-sized: every value fits an int. */
		return parse_choice(s, name, v, field, err, errlen);
	case SETTING_LONG:
		return parse_long(s, name, v, field, err, errlen);
	case SETTING_DATABASE_URL:
		return config_parse_database_url(v, cfg, err, errlen);
	case SETTING_ENDPOINTS:
		return parse_endpoints(s, name, v, field, err, errlen);
	case SETTING_ADDRESSES:
		return parse_addresses(s, name, v, field, err, errlen);
	}
	return -1;
}
