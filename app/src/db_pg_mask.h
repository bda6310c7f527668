#ifndef SQLITE_FCGI_DB_PG_MASK_H
#define SQLITE_FCGI_DB_PG_MASK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A PostgreSQL DATABASE_URL as it may be printed (sqlite-fcgi config,
 * migrate's errors, the workers' log), rebuilt from what libpq parses:
 * a structural masker of our own would disagree with libpq on some URL
 * (where user info ends, percent-encoded keys) and print the password.
 * Declared without libpq's types, for config_url.c; db_pg_mask.c.
 */

/*
 * Writes url into out (outlen bytes, always NUL-terminated, cut short if
 * need be) as postgres://USER:***@HOST:PORT/DBNAME?KEY=VALUE..., each
 * part from PQconninfoParse, with the value of every secret option
 * (password, sslpassword, any libpq shows as "*") replaced by "***".  A
 * URL libpq cannot parse is not shown at all.
 */
void pg_mask_url(const char *url, char *out, size_t outlen);

/*
 * Whether url has an '@' that libpq reads as part of the host, port or
 * database name: a password with an unencoded '@' or '/' (libpq ends the
 * user info at the first '@', or finds none before a '/'), which libpq
 * would split into a password and a host or name that hold the rest of
 * it.  Such a URL is refused (pg_check_config) and never printed.
 */
bool pg_url_has_stray_at(const char *url);

/*
 * Whether libpq's message about url may be shown: false when url could
 * hold a secret in a form libpq's message might quote (user info, a
 * percent-encoded byte, a password option).
 */
bool pg_url_message_is_safe(const char *url);

#endif
