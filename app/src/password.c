#include "password.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "input.h"

/* Every password that passes validation can be hashed. */
_Static_assert(INPUT_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
	       "INPUT_PASSWORD_MAX exceeds what crypt_rn accepts");

static struct crypt_data pw_work;

static const char *method_prefix(enum config_hash_method method)
{
	switch (method) {
	case HASH_YESCRYPT: return "$y$";
	case HASH_GOST_YESCRYPT: return "$gy$";
	case HASH_SCRYPT: return "$7$";
	case HASH_BCRYPT: return "$2b$";
	case HASH_SHA512CRYPT: return "$6$";
	case HASH_SHA256CRYPT: return "$5$";
	}
	return "$y$";
}

static int make_setting(enum config_hash_method method, long cost,
			char *setting, int size, char *err, size_t errlen)
{
	/* NULL random bytes: libxcrypt reads the OS's random source itself. */
	if (crypt_gensalt_rn(method_prefix(method), (unsigned long)cost, NULL,
			     0, setting, size) == NULL) {
		snprintf(err, errlen, "HASH_COST=%ld: not accepted for %s (%s)",
			 cost, config_hash_method_name(method), strerror(errno));
		return -1;
	}
	return 0;
}

int pw_hash(enum config_hash_method method, long cost, const char *password,
	    char *out, size_t outlen, char *err, size_t errlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *hash;
	int ret = -1;

	if (make_setting(method, cost, setting, (int)sizeof(setting), err,
			 errlen) != 0)
		return -1;
	hash = crypt_rn(password, setting, &pw_work, (int)sizeof(pw_work));
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
	explicit_bzero(&pw_work, sizeof(pw_work));
	return ret;
}

bool pw_verify(const char *password, const char *hash)
{
	const char *again = crypt_rn(password, hash, &pw_work, (int)sizeof(pw_work));
	size_t n = strlen(hash);
	unsigned char diff = 0;
	bool ok;

	if (again == NULL || again[0] == '*' || strlen(again) != n) {
		explicit_bzero(&pw_work, sizeof(pw_work));
		return false;
	}
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(again[i] ^ hash[i]);
	ok = diff == 0;
	explicit_bzero(&pw_work, sizeof(pw_work));
	return ok;
}

int pw_check_settings(enum config_hash_method method, long cost, char *err,
		      size_t errlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	return make_setting(method, cost, setting, (int)sizeof(setting), err,
			    errlen);
}
