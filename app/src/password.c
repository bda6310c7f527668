#include "password.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "password_pbkdf2.h"

/* Django's BCryptPasswordHasher stores "bcrypt$" before the $2b$ string. */
#define DJANGO_BCRYPT_PREFIX "bcrypt$"

/*
 * Django's BCryptPasswordHasher.rounds: HASH_COST=0 gives it for bcrypt,
 * not libxcrypt's default of 5, which is 128 times cheaper to guess.
 */
#define BCRYPT_DJANGO_COST 12
/* bcrypt reads the first 72 bytes of a password and ignores the rest. */
#define BCRYPT_PASSWORD_MAX 72

/* Every password that passes validation can be hashed. */
_Static_assert(INPUT_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
	       "INPUT_PASSWORD_MAX exceeds what crypt_rn accepts");

/*
 * crypt_rn's work area (32 KiB) is the caller's: each hash gets its own,
 * zeroed, on the heap (too large to sit lightly on a thread's stack), so
 * that threads hashing at once share nothing, and it is wiped and freed
 * as soon as the hash is copied out.
 */
static struct crypt_data *work_new(void)
{
	return calloc(1, sizeof(struct crypt_data));
}

static void work_free(struct crypt_data *work)
{
	if (work == NULL)
		return;
	explicit_bzero(work, sizeof(*work));
	free(work);
}

static const char *method_prefix(enum config_hash_method method)
{
	switch (method) {
	case HASH_YESCRYPT: return "$y$";
	case HASH_GOST_YESCRYPT: return "$gy$";
	case HASH_SCRYPT: return "$7$";
	case HASH_BCRYPT:
	case HASH_DJANGO_BCRYPT: return "$2b$";
	case HASH_SHA512CRYPT: return "$6$";
	case HASH_SHA256CRYPT: return "$5$";
	case HASH_PBKDF2_SHA256: break;	/* not libxcrypt's: password_pbkdf2.c */
	}
	return "$y$";
}

static bool is_bcrypt(enum config_hash_method method)
{
	return method == HASH_BCRYPT || method == HASH_DJANGO_BCRYPT;
}

/* The cost crypt_gensalt gets: 0 is libxcrypt's default, but Django's for bcrypt. */
static long crypt_cost(enum config_hash_method method, long cost)
{
	return cost == 0 && is_bcrypt(method) ? BCRYPT_DJANGO_COST : cost;
}

size_t password_max_length(enum config_hash_method method)
{
	return is_bcrypt(method) ? BCRYPT_PASSWORD_MAX : INPUT_PASSWORD_MAX;
}

int password_check_length(enum config_hash_method method, size_t len, char *err, size_t errlen)
{
	if (len <= password_max_length(method))
		return 0;
	snprintf(err, errlen, "password: at most %zu bytes with HASH_METHOD=%s",
		 password_max_length(method), config_hash_method_name(method));
	return -1;
}

static int make_setting(enum config_hash_method method, long cost,
			char *setting, int size, char *err, size_t errlen)
{
	/* NULL random bytes: libxcrypt reads the OS's random source itself. */
	if (crypt_gensalt_rn(method_prefix(method), (unsigned long)crypt_cost(method, cost), NULL,
			     0, setting, size) == NULL) {
		snprintf(err, errlen, "HASH_COST=%ld: not accepted for %s (%s)",
			 cost, config_hash_method_name(method), strerror(errno));
		return -1;
	}
	return 0;
}

static int crypt_hash(enum config_hash_method method, long cost,
		      const char *password, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *work;
	const char *hash;
	int ret = -1;

	if (make_setting(method, cost, setting, (int)sizeof(setting), err,
			 errlen) != 0)
		return -1;
	if ((work = work_new()) == NULL) {
		snprintf(err, errlen, "crypt_rn: out of memory");
		return -1;
	}
	hash = crypt_rn(password, setting, work, (int)sizeof(*work));
	/* Failure is NULL, or a string starting with '*' in some builds. */
	if (hash == NULL || hash[0] == '*') {
		snprintf(err, errlen, "crypt_rn failed: %s", strerror(errno));
		goto out;
	}
	if (strlen(hash) >= outlen) {
		snprintf(err, errlen, "hash longer than %zu bytes", outlen);
		goto out;
	}
	strcpy(out, hash);
	ret = 0;
out:
	work_free(work);
	return ret;
}

int password_hash(enum config_hash_method method, long cost, const char *password,
		  char *out, size_t outlen, char *err, size_t errlen)
{
	size_t n = strlen(DJANGO_BCRYPT_PREFIX);

	/* Validation refuses it (password_check_length): one that gets here is a bug. */
	if (password_check_length(method, strlen(password), err, errlen) != 0)
		return -1;
	if (method == HASH_PBKDF2_SHA256)
		return password_pbkdf2_hash(cost, password, out, outlen, err, errlen);
	if (method != HASH_DJANGO_BCRYPT)
		return crypt_hash(method, cost, password, out, outlen, err, errlen);
	if (outlen <= n) {
		snprintf(err, errlen, "hash longer than %zu bytes", outlen);
		return -1;
	}
	memcpy(out, DJANGO_BCRYPT_PREFIX, n);
	return crypt_hash(method, cost, password, out + n, outlen - n, err, errlen);
}

/* False when they differ, and when the password cannot be hashed at all. */
static bool crypt_verify(const char *password, const char *hash)
{
	struct crypt_data *work = work_new();
	const char *again;
	size_t n = strlen(hash);
	unsigned char diff = 0;
	bool ok = false;

	if (work == NULL)
		return false;
	again = crypt_rn(password, hash, work, (int)sizeof(*work));
	if (again != NULL && again[0] != '*' && strlen(again) == n) {
		for (size_t i = 0; i < n; i++)
			diff |= (unsigned char)(again[i] ^ hash[i]);
		ok = diff == 0;
	}
	work_free(work);
	return ok;
}

bool password_verify(const char *password, const char *hash)
{
	size_t n = strlen(DJANGO_BCRYPT_PREFIX);

	if (strncmp(hash, PBKDF2_PREFIX, strlen(PBKDF2_PREFIX)) == 0)
		return password_pbkdf2_verify(password, hash);
	if (strncmp(hash, DJANGO_BCRYPT_PREFIX, n) == 0)
		return strncmp(hash + n, "$2b$", 4) == 0 && crypt_verify(password, hash + n);
	return crypt_verify(password, hash);
}

int password_check_settings(enum config_hash_method method, long cost, char *err,
			    size_t errlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (method == HASH_PBKDF2_SHA256) {
		if (cost >= 0)
			return 0;
		snprintf(err, errlen, "HASH_COST=%ld: not accepted for pbkdf2_sha256", cost);
		return -1;
	}

	return make_setting(method, cost, setting, (int)sizeof(setting), err,
			    errlen);
}
