#ifndef SQLITE_FCGI_PASSWORD_PBKDF2_H
#define SQLITE_FCGI_PASSWORD_PBKDF2_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Django's default password format, pbkdf2_sha256$ITERATIONS$SALT$HASH,
 * with PBKDF2-HMAC-SHA256 from OpenSSL's libcrypto.  The only file that
 * includes an OpenSSL header.  password.c calls it; nothing else should.
 */

#define PBKDF2_PREFIX "pbkdf2_sha256$"

/*
 * The iterations when HASH_COST is 0: Django's
 * PBKDF2PasswordHasher.iterations in the Django Debian 12 ships (3.2).
 * Newer Djangos use more (4.2: 600000, 5.1: 870000, 5.2: 1000000): set
 * HASH_COST to your Django's, or Django rehashes the password at the
 * user's next login (harmless, but a write).
 */
#define PBKDF2_DEFAULT_ITERATIONS 260000L

/*
 * Hashes password with a fresh 22-character salt (Django's alphabet and
 * length) and iterations (0: PBKDF2_DEFAULT_ITERATIONS).  Writes the
 * NUL-terminated Django string to out and returns 0, or -1 with err.
 */
int password_pbkdf2_hash(long iterations, const char *password, char *out,
			 size_t outlen, char *err, size_t errlen);

/* True when hash is a pbkdf2_sha256$ string that password matches. */
bool password_pbkdf2_verify(const char *password, const char *hash);

#endif
