#include "config_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* DATABASE_URL: which engine it names, and how it is printed (masked). */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * DATABASE_URL, as dj-database-url reads it: postgres:// or postgresql://
 * (libpq checks the rest: db_check_config), or sqlite:///PATH (PATH
 * relative, sqlite:////PATH absolute) in place of DB_PATH.  The value is
 * never copied into err: it may hold a password.
 */
int config_parse_database_url(const char *v, struct config *cfg, char *err,
			      size_t errlen)
{
	cfg->engine = ENGINE_SQLITE;
	if (v[0] == '\0')
		return 0;
	if (starts_with(v, "sqlite:///")) {
		v += strlen("sqlite:///");
		if (v[0] == '\0' || strlen(v) >= sizeof(cfg->db_path)) {
			snprintf(err, errlen, "DATABASE_URL: sqlite:/// must be followed by"
				 " a path shorter than %zu bytes", sizeof(cfg->db_path));
			return -1;
		}
		strcpy(cfg->db_path, v);
		return 0;
	}
	if (!starts_with(v, "postgres://") && !starts_with(v, "postgresql://")) {
		snprintf(err, errlen, "DATABASE_URL: must start with postgres://,"
			 " postgresql:// or sqlite:/// (or be unset: SQLite at DB_PATH)");
		return -1;
	}
	if (strlen(v) >= sizeof(cfg->database_url)) {
		snprintf(err, errlen, "DATABASE_URL: must be shorter than %zu bytes",
			 sizeof(cfg->database_url));
		return -1;
	}
	strcpy(cfg->database_url, v);
	cfg->engine = ENGINE_POSTGRES;
	return 0;
}

/* Appends n bytes of s to out at *used, keeping out NUL-terminated. */
static void append(char *out, size_t outlen, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= outlen)
		return;
	if (n > outlen - 1 - *used)
		n = outlen - 1 - *used;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

/*
 * Where the password of url's user info starts and ends: from the first
 * ':' after "://" to the last '@' before the query.  The last '@', not
 * the first as libpq reads it: a password holding an unencoded '@' or '/'
 * is then masked whole, whatever libpq makes of it.
 */
static bool userinfo_password(const char *url, const char **start, const char **end)
{
	const char *auth = strstr(url, "://");
	const char *query, *at = NULL, *colon;

	if (auth == NULL)
		return false;
	auth += 3;
	query = strchr(auth, '?');
	for (const char *p = auth; *p != '\0' && p != query; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return false;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		return false;
	*start = colon + 1;
	*end = at;
	return true;
}

void config_mask_url(const char *url, char *out, size_t outlen)
{
	const char *start, *end, *p = url;
	const char *query;
	size_t used = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (userinfo_password(url, &start, &end)) {
		append(out, outlen, &used, url, (size_t)(start - url));
		append(out, outlen, &used, "***", 3);
		p = end;
	}
	query = strchr(p, '?');
	if (query == NULL) {
		append(out, outlen, &used, p, strlen(p));
		return;
	}
	append(out, outlen, &used, p, (size_t)(query - p));
	/* Each parameter of the query, its value hidden when it is a password. */
	for (p = query; *p != '\0';) {
		size_t n = strcspn(p + 1, "&") + 1;

		if (starts_with(p + 1, "password=")) {
			append(out, outlen, &used, p, 1 + strlen("password="));
			append(out, outlen, &used, "***", 3);
		} else {
			append(out, outlen, &used, p, n);
		}
		p += n;
	}
}
