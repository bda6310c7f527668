#ifndef SQLITE_FCGI_PASSWORD_H
#define SQLITE_FCGI_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

/*
 * Password hashing: libxcrypt's methods (the only file that includes
 * <crypt.h>), Django's "bcrypt$" form of bcrypt, and Django's
 * pbkdf2_sha256 (password_pbkdf2.c, with libcrypto).
 * Thread-safe: each hash has its own crypt_data work area (crypt_rn is
 * reentrant with it), and PBKDF2 is OpenSSL 3's, which is thread-safe.
 */

/* Big enough for every hash libxcrypt makes (CRYPT_OUTPUT_SIZE). */
#define PW_HASH_MAX 384

/*
 * Hashes the NUL-terminated password with a fresh random salt for method at
 * cost (0: the method's default: libxcrypt's, Django's 12 for bcrypt and
 * django-bcrypt, Django's iterations for pbkdf2_sha256).  A password longer
 * than password_max_length is refused.  On success writes the hash string to out
 * (PW_HASH_MAX bytes) and returns 0; on failure returns -1 with the reason
 * in err.  The work area is wiped afterwards; wiping the caller's copy of
 * the password is the caller's job.
 */
int password_hash(enum config_hash_method method, long cost, const char *password,
		  char *out, size_t outlen, char *err, size_t errlen);

/*
 * True when password hashes to hash (compared in constant time); hash may
 * be any format password_hash writes.
 */
bool password_verify(const char *password, const char *hash);

/*
 * The longest password method hashes whole: 72 bytes for bcrypt and
 * django-bcrypt (bcrypt ignores the bytes past them), else
 * INPUT_PASSWORD_MAX.
 */
size_t password_max_length(enum config_hash_method method);

/*
 * 0 when a password of len bytes is hashed whole by method; else -1 with
 * "password: at most 72 bytes with HASH_METHOD=bcrypt" in err (a 400).
 */
int password_check_length(enum config_hash_method method, size_t len, char *err, size_t errlen);

/* Checks that the method accepts cost, so a bad HASH_COST stops start-up. */
int password_check_settings(enum config_hash_method method, long cost, char *err,
			    size_t errlen);

#endif
