#include "testutil.h"

#include "accept.h"

static void json_only_when_preferred(void **state)
{
	(void)state;
	assert_true(accept_prefers_json("application/json"));
	assert_true(accept_prefers_json("APPLICATION/JSON"));
	assert_true(accept_prefers_json("text/html, application/json"));
	assert_true(accept_prefers_json("application/json; charset=utf-8"));
	assert_true(accept_prefers_json("text/plain;q=0.5, application/json"));
	assert_true(accept_prefers_json("application/*"));
	assert_true(accept_prefers_json("*/*;q=0.1, application/json;q=0.2"));
	assert_true(accept_prefers_json(" application/json ; q=1.000 "));
}

static void text_otherwise(void **state)
{
	(void)state;
	assert_false(accept_prefers_json(""));
	assert_false(accept_prefers_json("*/*"));
	assert_false(accept_prefers_json("text/html"));
	/* Another type, not JSON: the substring match took it for JSON. */
	assert_false(accept_prefers_json("application/jsonp"));
	assert_false(accept_prefers_json("application/json-patch+json"));
	/* q=0 means "not acceptable". */
	assert_false(accept_prefers_json("application/json;q=0"));
	assert_false(accept_prefers_json("application/json; q=0.000"));
	assert_false(accept_prefers_json("application/*, application/json;q=0"));
	/* A tie goes to text, as the service answered before JSON existed. */
	assert_false(accept_prefers_json("text/plain, application/json"));
	assert_false(accept_prefers_json("application/json;q=0.5, text/plain;q=0.9"));
	/* A malformed q makes the range count for nothing. */
	assert_false(accept_prefers_json("application/json;q=2"));
	assert_false(accept_prefers_json("application/json;q=abc"));
	assert_false(accept_prefers_json("application/json;q=0.1234"));
	assert_false(accept_prefers_json("json"));
	assert_false(accept_prefers_json("/json"));
	assert_false(accept_prefers_json(",,;;"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_only_when_preferred),
		cmocka_unit_test(text_otherwise),
	};

	return cmocka_run_group_tests_name("accept", tests, NULL, NULL);
}
