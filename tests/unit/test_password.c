#include "testutil.h"

#include <ctype.h>

#include "input.h"
#include "password.h"

static void yescrypt_by_default_and_verifies(void **state)
{
	char hash[PW_HASH_MAX], hash2[PW_HASH_MAX], err[ERR_LEN];

	(void)state;
	assert_int_equal(password_hash(HASH_YESCRYPT, 0, "correct horse", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_true(password_verify("correct horse", hash));
	assert_false(password_verify("correct horsE", hash));
	assert_false(password_verify("", hash));
	/* A fresh salt each time: the same password, two hashes. */
	assert_int_equal(password_hash(HASH_YESCRYPT, 0, "correct horse", hash2, sizeof(hash2), err, sizeof(err)), 0);
	assert_string_not_equal(hash, hash2);
	assert_true(password_verify("correct horse", hash2));
}

static void other_methods_and_costs(void **state)
{
	char hash[PW_HASH_MAX], err[ERR_LEN];

	(void)state;
	assert_int_equal(password_hash(HASH_SHA512CRYPT, 1000, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$6$rounds=1000$", 15);
	assert_true(password_verify("pw", hash));
	assert_int_equal(password_hash(HASH_BCRYPT, 4, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$2b$04$", 7);
	assert_true(password_verify("pw", hash));
}

/* Every method the settings accept hashes with its own prefix and verifies. */
static void every_method_hashes_and_verifies(void **state)
{
	static const struct { enum config_hash_method method; const char *prefix; } methods[] = {
		{ HASH_YESCRYPT, "$y$" }, { HASH_GOST_YESCRYPT, "$gy$" }, { HASH_SCRYPT, "$7$" },
		{ HASH_BCRYPT, "$2b$" }, { HASH_SHA512CRYPT, "$6$" }, { HASH_SHA256CRYPT, "$5$" },
	};
	char hash[PW_HASH_MAX], err[ERR_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(password_hash(methods[i].method, 0, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
		assert_memory_equal(hash, methods[i].prefix, strlen(methods[i].prefix));
		assert_true(password_verify("pw", hash));
		assert_false(password_verify("pW", hash));
	}
}

/* The longest password validation lets through hashes with every method. */
static void the_longest_valid_password_hashes(void **state)
{
	static const enum config_hash_method methods[] = {
		HASH_YESCRYPT, HASH_SHA512CRYPT, HASH_SHA256CRYPT, HASH_PBKDF2_SHA256,
	};
	static const long costs[] = { 0, 1000, 1000, 1000 };
	char hash[PW_HASH_MAX], err[ERR_LEN], pw[INPUT_PASSWORD_MAX + 2];

	(void)state;
	memset(pw, 'p', INPUT_PASSWORD_MAX);
	pw[INPUT_PASSWORD_MAX] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (password_hash(methods[i], costs[i], pw, hash, sizeof(hash), err, sizeof(err)) != 0)
			fail_msg("%s: %s", config_hash_method_name(methods[i]), err);
		assert_true(password_verify(pw, hash));
	}
	/* One byte more is what libxcrypt refuses, and validation with it. */
	pw[INPUT_PASSWORD_MAX] = 'p';
	pw[INPUT_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(password_hash(HASH_YESCRYPT, 0, pw, hash, sizeof(hash), err, sizeof(err)), -1);
}

static void bad_cost_is_refused(void **state)
{
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(password_check_settings(HASH_YESCRYPT, 0, err, sizeof(err)), 0);
	assert_int_equal(password_check_settings(HASH_YESCRYPT, 99, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "HASH_COST=99: not accepted for yescrypt"));
	assert_int_equal(password_check_settings(HASH_BCRYPT, 2, err, sizeof(err)), -1);
}

static void a_short_output_buffer_is_refused(void **state)
{
	char hash[8], err[ERR_LEN];

	(void)state;
	assert_int_equal(password_hash(HASH_SHA256CRYPT, 1000, "pw", hash, sizeof(hash), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "hash longer than"));
}

static void garbage_hash_never_verifies(void **state)
{
	(void)state;
	assert_false(password_verify("pw", "*0"));
	assert_false(password_verify("pw", "not a hash"));
	assert_false(password_verify("pw", ""));
}

/* Django's format, and a hash Django 3.2's PBKDF2PasswordHasher wrote. */
static void pbkdf2_sha256_is_djangos_format(void **state)
{
	char hash[PW_HASH_MAX], err[ERR_LEN];
	const char *salt, *b64;

	(void)state;
	assert_true(password_verify("correct horse", "pbkdf2_sha256$1000$seasalt$"
			      "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso="));
	assert_false(password_verify("correct horsE", "pbkdf2_sha256$1000$seasalt$"
			       "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso="));
	assert_false(password_verify("correct horse", "pbkdf2_sha256$1001$seasalt$"
			       "mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso="));
	assert_false(password_verify("correct horse", "pbkdf2_sha256$0$seasalt$x"));
	assert_int_equal(password_hash(HASH_PBKDF2_SHA256, 1000, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "pbkdf2_sha256$1000$", 19);
	salt = hash + 19;
	b64 = strchr(salt, '$');
	assert_non_null(b64);
	assert_int_equal(b64 - salt, 22);
	for (const char *c = salt; c < b64; c++)
		assert_true(isalnum((unsigned char)*c));
	assert_int_equal(strlen(b64 + 1), 44);
	assert_true(password_verify("pw", hash));
	assert_false(password_verify("pW", hash));
	/* 0: Django 3.2's iterations. */
	assert_int_equal(password_hash(HASH_PBKDF2_SHA256, 0, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "pbkdf2_sha256$260000$", 21);
	assert_int_equal(password_check_settings(HASH_PBKDF2_SHA256, 0, err, sizeof(err)), 0);
}

static void django_bcrypt_wraps_libxcrypts(void **state)
{
	char hash[PW_HASH_MAX], err[ERR_LEN];

	(void)state;
	assert_int_equal(password_hash(HASH_DJANGO_BCRYPT, 4, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "bcrypt$$2b$04$", 14);
	assert_true(password_verify("pw", hash));
	assert_false(password_verify("pW", hash));
	assert_false(password_verify("pw", "bcrypt$$6$rounds=1000$x$y"));
	assert_int_equal(password_check_settings(HASH_DJANGO_BCRYPT, 2, err, sizeof(err)), -1);
}

/* HASH_COST=0 is Django's cost for bcrypt (12), not libxcrypt's 5. */
static void bcrypt_defaults_to_djangos_cost(void **state)
{
	char hash[PW_HASH_MAX], err[ERR_LEN];

	(void)state;
	assert_int_equal(password_hash(HASH_BCRYPT, 0, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "$2b$12$", 7);
	assert_int_equal(password_hash(HASH_DJANGO_BCRYPT, 0, "pw", hash, sizeof(hash), err, sizeof(err)), 0);
	assert_memory_equal(hash, "bcrypt$$2b$12$", 14);
	assert_true(password_verify("pw", hash));
	assert_int_equal(password_check_settings(HASH_BCRYPT, 0, err, sizeof(err)), 0);
}

/*
 * bcrypt reads 72 bytes: a longer password is refused, naming the limit,
 * rather than cut short (two passwords that share 72 bytes would verify
 * alike).  The other methods take every byte validation lets through.
 */
static void bcrypt_refuses_what_it_would_cut(void **state)
{
	static const enum config_hash_method bcrypts[] = { HASH_BCRYPT, HASH_DJANGO_BCRYPT };
	char hash[PW_HASH_MAX], err[ERR_LEN], pw[80];

	(void)state;
	memset(pw, 'p', 73);
	pw[73] = '\0';
	for (size_t i = 0; i < 2; i++) {
		char want[80];

		snprintf(want, sizeof(want), "password: at most 72 bytes with HASH_METHOD=%s",
			 config_hash_method_name(bcrypts[i]));
		assert_int_equal(password_check_length(bcrypts[i], 72, err, sizeof(err)), 0);
		assert_int_equal(password_check_length(bcrypts[i], 73, err, sizeof(err)), -1);
		assert_string_equal(err, want);
		assert_int_equal(password_hash(bcrypts[i], 4, pw, hash, sizeof(hash), err, sizeof(err)), -1);
		assert_string_equal(err, want);
		pw[72] = '\0';
		assert_int_equal(password_hash(bcrypts[i], 4, pw, hash, sizeof(hash), err, sizeof(err)), 0);
		assert_true(password_verify(pw, hash));
		pw[72] = 'p';
	}
	assert_int_equal(password_max_length(HASH_YESCRYPT), INPUT_PASSWORD_MAX);
	assert_int_equal(password_check_length(HASH_PBKDF2_SHA256, INPUT_PASSWORD_MAX, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yescrypt_by_default_and_verifies),
		cmocka_unit_test(every_method_hashes_and_verifies),
		cmocka_unit_test(other_methods_and_costs),
		cmocka_unit_test(the_longest_valid_password_hashes),
		cmocka_unit_test(bad_cost_is_refused),
		cmocka_unit_test(a_short_output_buffer_is_refused),
		cmocka_unit_test(garbage_hash_never_verifies),
		cmocka_unit_test(pbkdf2_sha256_is_djangos_format),
		cmocka_unit_test(django_bcrypt_wraps_libxcrypts),
		cmocka_unit_test(bcrypt_defaults_to_djangos_cost),
		cmocka_unit_test(bcrypt_refuses_what_it_would_cut),
	};

	return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
