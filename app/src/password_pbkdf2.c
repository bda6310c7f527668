#include "password_pbkdf2.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "random_text.h"

/* Django: salt_entropy = 128 bits, 62 symbols -> ceil(128 / log2(62)) = 22. */
#define SALT_LEN 22
/* dklen None in Django: the digest's size, 32 bytes for SHA-256. */
#define DK_LEN 32
/* base64 of 32 bytes with its padding, as Django's b64encode writes it. */
#define DK_B64_LEN 44
/* HASH_COST's upper bound: a stored count above it is refused, not run. */
#define ITERATIONS_MAX 999999999L

/* base64 of PBKDF2-HMAC-SHA256(password, salt, iterations) into b64. */
static int derive(const char *password, const char *salt, long iterations,
		  char b64[DK_B64_LEN + 1])
{
	unsigned char dk[DK_LEN];
	int ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
				   (const unsigned char *)salt, (int)strlen(salt),
				   (int)iterations, EVP_sha256(), DK_LEN, dk);

	if (ok == 1 && EVP_EncodeBlock((unsigned char *)b64, dk, DK_LEN) != DK_B64_LEN)
		ok = 0;
	OPENSSL_cleanse(dk, sizeof(dk));
	return ok == 1 ? 0 : -1;
}

int password_pbkdf2_hash(long iterations, const char *password, char *out,
			 size_t outlen, char *err, size_t errlen)
{
	char salt[SALT_LEN + 1], b64[DK_B64_LEN + 1];
	int n;

	if (iterations == 0)
		iterations = PBKDF2_DEFAULT_ITERATIONS;
	if (iterations < 1 || iterations > ITERATIONS_MAX) {
		snprintf(err, errlen, "HASH_COST=%ld: not accepted for pbkdf2_sha256", iterations);
		return -1;
	}
	if (random_alnum(salt, SALT_LEN) != 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	salt[SALT_LEN] = '\0';
	if (derive(password, salt, iterations, b64) != 0) {
		snprintf(err, errlen, "PKCS5_PBKDF2_HMAC failed: %s",
			 ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	n = snprintf(out, outlen, PBKDF2_PREFIX "%ld$%s$%s", iterations, salt, b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "hash longer than %zu bytes", outlen);
		return -1;
	}
	return 0;
}

/* Splits "ITERATIONS$SALT$HASH"; false when it is not that shape. */
static bool parse(const char *rest, long *iterations, char *salt, size_t saltlen,
		  const char **stored)
{
	char *end;
	const char *dollar;

	errno = 0;
	*iterations = strtol(rest, &end, 10);
	if (errno != 0 || end == rest || *end != '$' || *iterations < 1 ||
	    *iterations > ITERATIONS_MAX)
		return false;
	rest = end + 1;
	dollar = strchr(rest, '$');
	if (dollar == NULL || dollar == rest || (size_t)(dollar - rest) >= saltlen)
		return false;
	memcpy(salt, rest, (size_t)(dollar - rest));
	salt[dollar - rest] = '\0';
	*stored = dollar + 1;
	return strlen(*stored) == DK_B64_LEN;
}

bool password_pbkdf2_verify(const char *password, const char *hash)
{
	char salt[128], b64[DK_B64_LEN + 1];
	const char *stored;
	long iterations;
	bool ok;

	if (strncmp(hash, PBKDF2_PREFIX, strlen(PBKDF2_PREFIX)) != 0 ||
	    !parse(hash + strlen(PBKDF2_PREFIX), &iterations, salt, sizeof(salt), &stored) ||
	    derive(password, salt, iterations, b64) != 0)
		return false;
	ok = CRYPTO_memcmp(b64, stored, DK_B64_LEN) == 0;
	OPENSSL_cleanse(b64, sizeof(b64));
	return ok;
}
