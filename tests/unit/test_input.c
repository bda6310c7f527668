#include "testutil.h"

#include "input.h"

static char err[ERR_LEN];

static int parse_form(struct user_input *in, const char *body)
{
	input_init(in);
	err[0] = '\0';
	return input_parse_form(in, body, strlen(body), err, sizeof(err));
}

/* Parses body as a form and validates it; returns the first failure's message, or "ok". */
static const char *form_verdict(const char *body)
{
	struct user_input in;

	if (parse_form(&in, body) != 0 || input_validate(&in, err, sizeof(err)) != 0)
		return err;
	return "ok";
}

static void form_fields_are_decoded(void **state)
{
	struct user_input in;

	(void)state;
	assert_int_equal(parse_form(&in, "username=bob%2Bx&email=b%40example.com&password=a+b%26c%3D"), 0);
	assert_string_equal(in.username, "bob+x");
	assert_string_equal(in.email, "b@example.com");
	assert_string_equal(in.password, "a b&c=");
	assert_int_equal(in.f_password.len, 6);
	assert_false(input_is_empty(&in));
}

static void empty_pairs_are_skipped(void **state)
{
	struct user_input in;

	(void)state;
	assert_int_equal(parse_form(&in, "&&username=a&&password=b&"), 0);
	assert_string_equal(in.username, "a");
	assert_int_equal(parse_form(&in, ""), 0);
	assert_true(input_is_empty(&in));
}

static void form_refusals(void **state)
{
	struct user_input in;

	(void)state;
	assert_int_equal(parse_form(&in, "username=a&username=b"), -1);
	assert_string_equal(err, "username: given more than once");
	assert_int_equal(parse_form(&in, "username=a&is_superuser=1"), -1);
	assert_string_equal(err, "unknown field \"is_superuser\": expected username, email, password");
	assert_int_equal(parse_form(&in, "username=%zz"), -1);
	assert_string_equal(err, "malformed form body: bad percent-encoding");
	assert_int_equal(parse_form(&in, "username=ab%4"), -1);
	assert_int_equal(parse_form(&in, "username=ab%"), -1);
	assert_int_equal(parse_form(&in, "us%ZZername=a"), -1);
	/* A name is shown to the client with anything odd replaced. */
	assert_int_equal(parse_form(&in, "a%22b%0a=1"), -1);
	assert_string_equal(err, "unknown field \"a?b?\": expected username, email, password");
}

static void validation_follows_django(void **state)
{
	char longname[200], longpw[5000], longmail[400];

	(void)state;
	assert_string_equal(form_verdict("username=a&password=b"), "ok");
	assert_string_equal(form_verdict("username=a.b%40c%2Bd-e_f&password=b&email=x%40y.z"), "ok");
	assert_string_equal(form_verdict("password=b"), "username: this field is required");
	assert_string_equal(form_verdict("username=&password=b"), "username: this field is required");
	assert_string_equal(form_verdict("username=a+b&password=b"),
			    "username: only letters, digits and @ . + - _ are allowed");
	assert_string_equal(form_verdict("username=a%2Fb&password=b"),
			    "username: only letters, digits and @ . + - _ are allowed");
	assert_string_equal(form_verdict("username=a%00b&password=b"),
			    "username: only letters, digits and @ . + - _ are allowed");
	assert_string_equal(form_verdict("username=%C3%A9&password=b"),
			    "username: only letters, digits and @ . + - _ are allowed");
	assert_string_equal(form_verdict("username=a"), "password: this field is required");
	assert_string_equal(form_verdict("username=a&password="), "password: this field is required");
	assert_string_equal(form_verdict("username=a&password=x%00y"),
			    "password: must not contain NUL bytes");
	assert_string_equal(form_verdict("username=a&password=b&email=nope"),
			    "email: not a valid address (needs one @ between a name and a domain)");
	assert_string_equal(form_verdict("username=a&password=b&email=a%40b%40c"),
			    "email: not a valid address (needs one @ between a name and a domain)");
	assert_string_equal(form_verdict("username=a&password=b&email=%40b"),
			    "email: not a valid address (needs one @ between a name and a domain)");
	assert_string_equal(form_verdict("username=a&password=b&email=a+b%40c"),
			    "email: not a valid address (spaces, control characters or invalid UTF-8)");
	assert_string_equal(form_verdict("username=a&password=b&email=a%FF%40c"),
			    "email: not a valid address (spaces, control characters or invalid UTF-8)");
	assert_string_equal(form_verdict("username=a&password=b&email=j%C3%B6rg%40example.com"), "ok");

	/* 150 characters are allowed, 151 are not. */
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "username=", 9);
	strcpy(longname + 9 + 150, "&password=p");
	assert_string_equal(form_verdict(longname), "ok");
	longname[9 + 150] = 'x';
	strcpy(longname + 9 + 151, "&password=p");
	assert_string_equal(form_verdict(longname), "username: at most 150 characters");

	/* An email of exactly 254 bytes is allowed, 255 are not. */
	memcpy(longmail, "username=a&password=b&email=", 28);
	memset(longmail + 28, 'm', 242);
	strcpy(longmail + 28 + 242, "%40example.com");	/* 242 + 12 bytes */
	assert_string_equal(form_verdict(longmail), "ok");
	memset(longmail + 28, 'm', 243);
	strcpy(longmail + 28 + 243, "%40example.com");
	assert_string_equal(form_verdict(longmail), "email: at most 254 bytes");

	/* 511 bytes of password are allowed (libxcrypt's limit), 512 are not. */
	memcpy(longpw, "username=a&password=", 20);
	memset(longpw + 20, 'p', 511);
	longpw[20 + 511] = '\0';
	assert_string_equal(form_verdict(longpw), "ok");
	memset(longpw + 20, 'p', 512);
	longpw[20 + 512] = '\0';
	assert_string_equal(form_verdict(longpw), "password: at most 511 bytes");
}

static enum input_result parse_json(struct user_input *in, const char *body, size_t len)
{
	input_init(in);
	err[0] = '\0';
	return input_parse_json(in, body, len, err, sizeof(err));
}

static void json_members_are_decoded(void **state)
{
	static const char body[] = "{\"username\": \"b\\u006fb\", \"email\": \"\", \"password\": \"p\\\"w\"}";
	struct user_input in;

	(void)state;
	assert_int_equal(parse_json(&in, body, strlen(body)), INPUT_OK);
	assert_string_equal(in.username, "bob");
	assert_true(in.f_email.present);
	assert_int_equal(in.f_email.len, 0);
	assert_string_equal(in.password, "p\"w");
	assert_int_equal(in.f_password.len, 3);
	input_wipe(&in);
}

/* Each refusal of a JSON body, with its message (raw NUL bytes in a body too). */
static void json_refusals(void **state)
{
	static const struct { const char *body; size_t len; const char *message; } cases[] = {
#define CASE(text, message) { text, sizeof(text) - 1, message }
		CASE("{\"username\": \"bob\"", "malformed JSON"),
		CASE("{", "malformed JSON"),
		CASE("", "malformed JSON"),
		CASE("  ", "malformed JSON"),
		CASE("{\"username\": \"bob\"} x", "malformed JSON"),
		CASE("{'username': 'bob'}", "malformed JSON"),
		CASE("[\"bob\"]", "JSON body must be an object, not array"),
		CASE("\"bob\"", "JSON body must be an object, not text"),
		CASE("42", "JSON body must be an object, not integer"),
		CASE("1.5", "JSON body must be an object, not real"),
		CASE("false", "JSON body must be an object, not false"),
		CASE("null", "JSON body must be an object, not null"),
		CASE("{\"password\": 12}", "password: must be a JSON string, not integer"),
		CASE("{\"password\": 1.5}", "password: must be a JSON string, not real"),
		CASE("{\"username\": true}", "username: must be a JSON string, not true"),
		CASE("{\"username\": null}", "username: must be a JSON string, not null"),
		CASE("{\"username\": {}}", "username: must be a JSON string, not object"),
		CASE("{\"username\": []}", "username: must be a JSON string, not array"),
		CASE("{\"username\": \"a\", \"username\": \"b\"}", "username: given more than once"),
		CASE("{\"x\": 1, \"x\": 2}", "unknown field \"x\": expected username, email, password"),
		CASE("{\"is_staff\": true}", "unknown field \"is_staff\": expected username, email, password"),
		CASE("{\"password\": \"x\\u0000y\"}", "JSON strings must not contain NUL (\\u0000)"),
		CASE("{\"pass\\u0000word\": \"x\"}", "JSON strings must not contain NUL (\\u0000)"),
		CASE("{\"password\": \"x\0y\"}", "JSON strings must not contain NUL (\\u0000)"),
		CASE("{\"email\": \"\xc3\x28@x.org\"}", "malformed JSON: invalid UTF-8"),
		CASE("{\"password\": \"\xff\xfe\"}", "malformed JSON: invalid UTF-8"),
		CASE("{\"password\": \"\\ud800\"}", "malformed JSON"),
#undef CASE
	};
	struct user_input in;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_json(&in, cases[i].body, cases[i].len), INPUT_REFUSED);
		assert_string_equal(err, cases[i].message);
	}
}

/* An escaped backslash before u0000 is text, not a NUL; sizes as for a form. */
static void json_text_and_sizes(void **state)
{
	static const char backslash[] = "{\"username\": \"a\\\\u0000\"}";
	static char longpw[600];
	struct user_input in;
	int n;

	(void)state;
	assert_int_equal(parse_json(&in, backslash, strlen(backslash)), INPUT_OK);
	assert_string_equal(in.username, "a\\u0000");
	n = snprintf(longpw, sizeof(longpw), "{\"username\": \"a\", \"password\": \"%0512d\"}", 0);
	assert_int_equal(parse_json(&in, longpw, (size_t)n), INPUT_OK);
	assert_int_equal(input_validate(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "password: at most 511 bytes");
	input_wipe(&in);
}

static void wipe_clears_the_password(void **state)
{
	struct user_input in;

	(void)state;
	assert_int_equal(parse_form(&in, "username=a&password=secret"), 0);
	input_wipe(&in);
	for (size_t i = 0; i < sizeof(in.password); i++)
		assert_int_equal(in.password[i], 0);
}

/*
 * A password must be UTF-8: Django decodes a form body as UTF-8 (invalid
 * bytes become U+FFFD), so other bytes would make a user it can never log
 * in.  JSON is UTF-8 already (jansson refuses the rest).
 */
static void a_password_must_be_utf8(void **state)
{
	(void)state;
	assert_string_equal(form_verdict("username=u&password=%FF%FE"), "password: must be UTF-8");
	assert_string_equal(form_verdict("username=u&password=ab%C3"), "password: must be UTF-8");
	assert_string_equal(form_verdict("username=u&password=%C0%AF"), "password: must be UTF-8");
	assert_string_equal(form_verdict("username=u&password=%ED%A0%80"), "password: must be UTF-8");
	assert_string_equal(form_verdict("username=u&password=p%C3%A4ss%F0%9F%94%91"), "ok");
}

/* The email as Django's normalize_email stores it (checked against Django: test_bad_inputs). */
static void the_email_domain_is_lowercased(void **state)
{
	static const struct { const char *form, *stored; } cases[] = {
		{ "email=Bob.X%40Example.COM", "Bob.X@example.com" },
		{ "email=a%40%C3%89XAMPLE.ORG", "a@\xc3\xa9xample.org" },
		/* U+0130 lowercases to i and U+0307; a final capital sigma to U+03C2. */
		{ "email=a%40%C4%B0.TR", "a@i\xcc\x87.tr" },
		{ "email=a%40%CE%91%CE%A3", "a@\xce\xb1\xcf\x82" },
		{ "email=a%40%CE%91%CE%A3.%CE%91", "a@\xce\xb1\xcf\x83.\xce\xb1" },
		{ "email=a%40%CE%91%CE%A3-B", "a@\xce\xb1\xcf\x82-b" },
		{ "email=A%40b", "A@b" },
	};
	struct user_input in;
	char body[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "username=u&password=x&%s", cases[i].form);
		assert_int_equal(parse_form(&in, body), 0);
		assert_int_equal(input_validate(&in, err, sizeof(err)), 0);
		assert_int_equal(input_normalize(&in, err, sizeof(err)), 0);
		assert_string_equal(in.email, cases[i].stored);
		assert_int_equal(in.f_email.len, strlen(cases[i].stored));
	}
}

/* U+023A (2 bytes) lowercases to U+2C65 (3 bytes): past 254 bytes, refused. */
static void a_domain_that_grows_past_the_limit_is_refused(void **state)
{
	struct user_input in;
	char body[1024] = "username=u&password=x&email=a%40";

	(void)state;
	for (int i = 0; i < 126; i++)
		strcat(body, "%C8%BA");
	assert_int_equal(parse_form(&in, body), 0);
	assert_int_equal(input_validate(&in, err, sizeof(err)), 0);
	assert_int_equal(input_normalize(&in, err, sizeof(err)), -1);
	assert_string_equal(err, "email: at most 254 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(form_fields_are_decoded),
		cmocka_unit_test(empty_pairs_are_skipped),
		cmocka_unit_test(form_refusals),
		cmocka_unit_test(validation_follows_django),
		cmocka_unit_test(json_members_are_decoded),
		cmocka_unit_test(json_refusals),
		cmocka_unit_test(json_text_and_sizes),
		cmocka_unit_test(wipe_clears_the_password),
		cmocka_unit_test(a_password_must_be_utf8),
		cmocka_unit_test(the_email_domain_is_lowercased),
		cmocka_unit_test(a_domain_that_grows_past_the_limit_is_refused),
	};

	return cmocka_run_group_tests_name("input", tests, NULL, NULL);
}
