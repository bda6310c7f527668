#include "dbtest.h"

#include <math.h>

#include "rows.h"
#include "rows_input.h"

static char err[ERR_LEN];
static struct row_input in;	/* 64 KiB: not on the stack */

/* Parses body as a form and validates it; the first failure's message, or "ok". */
static const char *verdict(const char *body)
{
	rows_input_init(&in);
	err[0] = '\0';
	if (rows_input_parse_form(&in, body, strlen(body), err, sizeof(err)) != 0 ||
	    rows_input_validate(&in, err, sizeof(err)) != 0)
		return err;
	return "ok";
}

#define ROW "name=Name+0&campaign=Campaign+0&voice=Voice+0&recognize=Recognize+0" \
	"&inside=0&growth=Growth+0&side=0&yard=Yard+0&discussion=Discussion+0"

static enum rows_float parse_float(const char *text, double *v)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s", text);
	return rows_parse_float(buf, strlen(buf), v);
}

/* What Python's float() reads, and the double it gives. */
static void floats_are_read_as_python_reads_them(void **state)
{
	static const struct { const char *text; double want; } ok[] = {
		{ "0", 0 }, { "1.5", 1.5 }, { " 2.5 ", 2.5 }, { "\t-3\n", -3 }, { "+4", 4 },
		{ "1_000", 1000 }, { "1_000.000_5", 1000.0005 }, { ".5", 0.5 }, { "5.", 5 },
		{ "1e3", 1000 }, { "1E-3", 0.001 }, { "1e+3", 1000 }, { "1_0e1_0", 1e11 },
		{ "0.1", 0.1 }, { "1.7976931348623157e308", 1.7976931348623157e308 },
		{ "1e-400", 0 }, { "4.9406564584124654e-324", 4.9406564584124654e-324 },
		{ "\v\f\r7", 7 },
	};
	static const char *const malformed[] = {
		"", " ", "abc", "1,5", "0x10", "1_", "_1", "1__0", "1._5", "1_.5", "._5", ".",
		"e3", "1e", "1e_3", "1e3_", "--1", "+-1", "1 2", "\xd9\xa1", "infinit", "nan1",
		"1d", "0b1", "1.5f", "1e3.5", "- 1", "\xc2\xa0" "1",
	};
	static const char *const not_finite[] = {
		"nan", "NaN", "-nan", "inf", "+Infinity", "-INF", " iNfInItY ", "1e400", "-1e309",
	};
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -1;
		assert_int_equal(parse_float(ok[i].text, &v), ROWS_FLOAT_OK);
		assert_true(v == ok[i].want);
	}
	assert_int_equal(parse_float("-0", &v), ROWS_FLOAT_OK);
	assert_true(v == 0 && signbit(v));
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(parse_float(malformed[i], &v), ROWS_FLOAT_MALFORMED);
	for (size_t i = 0; i < sizeof(not_finite) / sizeof(not_finite[0]); i++)
		assert_int_equal(parse_float(not_finite[i], &v), ROWS_FLOAT_NOT_FINITE);
}

static void the_form_is_decoded_into_a_row(void **state)
{
	(void)state;
	assert_string_equal(verdict(ROW), "ok");
	assert_string_equal(in.row.name, "Name 0");
	assert_string_equal(in.row.discussion, "Discussion 0");
	assert_true(in.row.inside == 0 && in.row.side == 0);
	/* Any order; percent-encoding; empty texts, as Django stores ""; UTF-8. */
	assert_string_equal(verdict("discussion=&yard=y%26%3D&side=-2.5e1&growth=g&inside=1_5"
				    "&recognize=r&voice=%C3%A9&campaign=c&name=n"), "ok");
	assert_string_equal(in.row.discussion, "");
	assert_string_equal(in.row.yard, "y&=");
	assert_string_equal(in.row.voice, "\xc3\xa9");
	assert_true(in.row.inside == 15 && in.row.side == -25);
}

/* ROW with field set to value (still encoded); the form in a static buffer. */
static const char *row_with(const char *field, const char *value)
{
	static const char *const names[] = { "name", "campaign", "voice", "recognize", "inside",
					     "growth", "side", "yard", "discussion" };
	static char form[512];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		n += (size_t)snprintf(form + n, sizeof(form) - n, "%s%s=%s", i ? "&" : "", names[i],
				      strcmp(names[i], field) == 0 ? value
				      : i == 4 || i == 6 ? "0" : "text");
	return form;
}

static void bad_fields_are_named(void **state)
{
	(void)state;
	assert_string_equal(verdict(row_with("none", "")), "ok");
	assert_string_equal(verdict(""), "name: this field is required");
	assert_string_equal(verdict("name=a"), "campaign: this field is required");
	assert_string_equal(verdict(ROW "&name=b"), "name: given more than once");
	assert_string_equal(verdict(ROW "&id=7"), "unknown field \"id\": expected name, campaign,"
			    " voice, recognize, inside, growth, side, yard, discussion");
	assert_string_equal(verdict("a%22b%0a=1&" ROW), "unknown field \"a?b?\": expected name,"
			    " campaign, voice, recognize, inside, growth, side, yard, discussion");
	assert_string_equal(verdict(row_with("yard", "%zz")), "malformed form body: bad percent-encoding");
	assert_string_equal(verdict(row_with("name", "%4")), "malformed form body: bad percent-encoding");
	assert_string_equal(verdict(row_with("voice", "a%00b")), "voice: must not contain NUL bytes");
	assert_string_equal(verdict(row_with("voice", "a%FFb")), "voice: not valid UTF-8");
	assert_string_equal(verdict(row_with("yard", "%ED%A0%80")), "yard: not valid UTF-8");
	assert_string_equal(verdict(row_with("inside", "1.5x")),
			    "inside: not a number: expected a decimal such as 1.5, -2 or 3e-4");
	assert_string_equal(verdict(row_with("inside", "")),
			    "inside: not a number: expected a decimal such as 1.5, -2 or 3e-4");
	assert_string_equal(verdict(row_with("side", "nan")),
			    "side: must be finite: nan, inf and numbers past 1.8e308 are refused");
	assert_string_equal(verdict(row_with("side", "1e999")),
			    "side: must be finite: nan, inf and numbers past 1.8e308 are refused");
}

/* A form as large as a body can be decodes into the row's buffer; a larger one is refused. */
static void the_largest_form_fits(void **state)
{
	static char body[ROWS_FORM_MAX + 2];
	size_t n = (size_t)snprintf(body, sizeof(body), "%s", ROW);

	(void)state;
	memset(body + n, 'd', ROWS_FORM_MAX + 1 - n);	/* discussion's value, long */
	rows_input_init(&in);
	assert_int_equal(rows_input_parse_form(&in, body, ROWS_FORM_MAX, err, sizeof(err)), 0);
	assert_int_equal(rows_input_validate(&in, err, sizeof(err)), 0);
	assert_int_equal(strlen(in.row.discussion), ROWS_FORM_MAX - n + strlen("Discussion+0"));
	rows_input_init(&in);
	assert_int_equal(rows_input_parse_form(&in, body, ROWS_FORM_MAX + 1, err, sizeof(err)), -1);
	assert_string_equal(err, "form body: at most 65536 bytes");
}

static long long count_rows(void)
{
	return dbtest_query_int(&t, "SELECT COUNT(*) FROM basic_model_row");
}

/* Each shape reads and writes what upstream's view does, in its order. */
static void every_shape_reads_and_writes(void **state)
{
	static const struct { const struct rows_shape *shape; bool writes; int nread; } cases[] = {
		{ &rows_view_read, false, 0 },
		{ &rows_view_read_transaction, false, 0 },
		{ &rows_view_write, true, -1 },
		{ &rows_view_read_write, true, 1 },		/* read before its write */
		{ &rows_view_write_read, true, 3 },		/* read after its write */
		{ &rows_view_write_read_transaction, true, 4 },
		{ &rows_view_read_write_transaction, true, 4 },
		{ &rows_view_read_write_transaction_immediate, true, 5 },
	};
	struct config cfg;
	struct rows_done done;
	struct db *db;
	long long id = 0;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_string_equal(verdict(ROW), "ok");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rows_shape *shape = cases[i].shape;

		assert_int_equal(rows_writes(shape), cases[i].writes);
		assert_int_equal(rows_run(db, shape, cases[i].writes ? &in.row : NULL, &done), DB_OK);
		assert_int_equal(done.nread, cases[i].nread);
		assert_int_equal(done.id, cases[i].writes ? ++id : 0);
		assert_null(done.failed);
	}
	assert_int_equal(count_rows(), 6);
	db_close(db);
}

/*
 * Django's defaults (rollback journal, deferred BEGIN): while another
 * connection holds the write lock (RESERVED), read_write_transaction/'s
 * read gets its SHARED lock, and its INSERT is refused at once, without
 * the 5 s busy wait, since waiting could deadlock.  Nothing is written;
 * once the other has committed, the same connection succeeds.
 */
static void deferred_read_write_transaction_is_refused_at_once(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };
	struct config cfg;
	struct rows_done done;
	struct db *mine, *other;
	long long id;
	double start;

	(void)state;
	dbtest_config(&t, &cfg, env);
	mine = dbtest_open(&cfg);
	other = dbtest_open(&cfg);
	assert_string_equal(verdict(ROW), "ok");
	assert_int_equal(db_begin_as(other, DB_BEGIN_IMMEDIATE), DB_OK);
	assert_int_equal(db_row_insert(other, &in.row, &id), DB_OK);
	start = dbtest_now();
	assert_int_equal(rows_run(mine, &rows_view_read_write_transaction, &in.row, &done), DB_BUSY);
	assert_true(dbtest_now() - start < 1.0);	/* not the 5 s busy timeout */
	assert_string_equal(done.failed, "insert");
	assert_string_equal(db_errname(mine), "SQLITE_BUSY");
	assert_false(done.kept);
	assert_int_equal(db_commit(other), DB_OK);
	assert_int_equal(count_rows(), 1);
	assert_int_equal(rows_run(mine, &rows_view_read_write_transaction, &in.row, &done), DB_OK);
	assert_int_equal(done.nread, 1);
	assert_int_equal(count_rows(), 2);
	db_close(mine);
	db_close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(floats_are_read_as_python_reads_them),
		cmocka_unit_test(the_form_is_decoded_into_a_row),
		cmocka_unit_test(bad_fields_are_named),
		cmocka_unit_test(the_largest_form_fits),
		cmocka_unit_test_setup_teardown(every_shape_reads_and_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(deferred_read_write_transaction_is_refused_at_once,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("rows", tests, NULL, NULL);
}
