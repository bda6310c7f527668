#include "dbtest.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "commit.h"
#include "grouptest.h"
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
		"1d", "0b1", "1.5f", "1e3.5", "- 1", ("\xc2\xa0" "1"),	/* a no-break space before it */
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

/*
 * rows_run_grouped (GROUP_COMMIT=on): each writing shape's write runs in a
 * shared transaction of the worker's queue, a savepoint of its own; the
 * reads of an autocommit shape run on the thread's own connection.
 */
static const char *const grouped_env[] = { "GROUP_COMMIT=on", "GROUP_COMMIT_MAX=16", NULL };

/* One request of the matrix, on a thread of its own, and what it got. */
struct grouped_write {
	pthread_t id;
	struct commit_queue *q;
	struct db *db;		/* the thread's own connection */
	const struct rows_shape *shape;
	char name[32];
	struct db_row row;
	enum db_result res;
	struct rows_done done;
	struct db_failure fail;
};

/* How many requests are on their way to rows_run_grouped. */
static atomic_int submitted;

static void *run_grouped_write(void *arg)
{
	struct grouped_write *w = arg;

	atomic_fetch_add(&submitted, 1);
	w->res = rows_run_grouped(w->q, w->db, w->shape, &w->row, &w->done, &w->fail);
	return NULL;
}

/* A batch of its own that stays open until n requests are queued behind it. */
struct holder {
	pthread_t id;
	struct commit_queue *q;
	int n;
	atomic_int running;
	enum db_result res;
	struct db_failure fail;
};

static enum db_result hold_open(struct db *db, void *arg)
{
	struct holder *h = arg;

	(void)db;
	atomic_store(&h->running, 1);
	while (atomic_load(&submitted) < h->n)
		sleep_ms(1);
	sleep_ms(300);	/* the last one's way into the queue */
	return DB_OK;
}

static void *run_holder(void *arg)
{
	struct holder *h = arg;

	h->res = commit_run(h->q, hold_open, h, &h->fail);
	return NULL;
}

/*
 * Runs the n requests w[] (shape and name set by the caller) behind a
 * holder, so that their writes share one transaction, and checks that
 * they did.
 */
static void run_in_one_batch(const struct config *cfg, struct grouped_write *w, int n)
{
	static struct holder h;
	struct commit_queue *q;
	long long before = batches(), held = batched_requests();

	assert_non_null(q = commit_queue_create(cfg));
	h = (struct holder){ .q = q, .n = n };
	atomic_store(&submitted, 0);
	assert_int_equal(pthread_create(&h.id, NULL, run_holder, &h), 0);
	while (!atomic_load(&h.running))
		sleep_ms(1);
	for (int i = 0; i < n; i++) {
		w[i].q = q;
		w[i].row = (struct db_row){ .name = w[i].name, .campaign = "c", .voice = "v",
					    .recognize = "r", .growth = "g", .yard = "y",
					    .discussion = "d", .inside = i, .side = -i };
		if (db_open(cfg, DB_OPEN_SERVE, &w[i].db, err, sizeof(err)) != DB_OK)
			fail_msg("db_open: %s", err);
		assert_int_equal(pthread_create(&w[i].id, NULL, run_grouped_write, &w[i]), 0);
	}
	assert_int_equal(pthread_join(h.id, NULL), 0);
	assert_int_equal(h.res, DB_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(pthread_join(w[i].id, NULL), 0);
		db_close(w[i].db);
	}
	commit_queue_free(q);
	/* The holder's batch, then one batch of all n. */
	assert_int_equal(batches(), before + 2);
	assert_int_equal(batched_requests(), held + 1 + n);
}

/* Whether the row id is committed, with name. */
static bool row_committed(long long id, const char *name)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM basic_model_row"
		 " WHERE id = %lld AND name = '%s'", id, name);
	return dbtest_query_int(&t, sql) == 1;
}

/* The grouped requests of the tests below: every shape that writes. */
static void writing_shapes(struct grouped_write *w)
{
	static const struct rows_shape *const shapes[] = {
		&rows_view_write, &rows_view_read_write, &rows_view_write_read,
		&rows_view_write_read_transaction, &rows_view_read_write_transaction,
		&rows_view_read_write_transaction_immediate,
	};

	for (int i = 0; i < 6; i++) {
		w[i] = (struct grouped_write){ .shape = shapes[i] };
		snprintf(w[i].name, sizeof(w[i].name), "row %d", i);
	}
}

/*
 * What a request that committed got: its row's id, and what its reads
 * saw.  The batch's rows got ids in the order they ran, one after the
 * other, so that a read in the shared transaction sees exactly the rows
 * of the ids below its own (and its own, after its write); an autocommit
 * read before the write ran before the batch (nothing committed yet), one
 * after it once the batch committed (all its rows).
 */
static void assert_committed(const struct grouped_write *w, long long batch_rows)
{
	const struct rows_shape *s = w->shape;

	assert_int_equal(w->res, DB_OK);
	assert_null(w->done.failed);
	assert_false(w->done.kept);
	assert_true(w->done.id >= 1 && w->done.id <= batch_rows);
	assert_true(row_committed(w->done.id, w->name));
	if (s == &rows_view_write)
		assert_int_equal(w->done.nread, -1);
	else if (s == &rows_view_read_write)
		assert_int_equal(w->done.nread, 0);
	else if (s == &rows_view_write_read)
		assert_int_equal(w->done.nread, batch_rows);
	else if (s == &rows_view_write_read_transaction)
		assert_int_equal(w->done.nread, w->done.id);
	else
		assert_int_equal(w->done.nread, w->done.id - 1);
}

static void every_grouped_write_commits_in_one_batch(void **state)
{
	struct grouped_write w[6];
	struct config cfg;
	bool seen[7] = { false };

	(void)state;
	dbtest_config(&t, &cfg, grouped_env);
	dbtest_migrate(&cfg);
	open_metrics();
	writing_shapes(w);
	run_in_one_batch(&cfg, w, 6);
	for (int i = 0; i < 6; i++) {
		assert_committed(&w[i], 6);
		assert_false(seen[w[i].done.id]);	/* each its own row */
		seen[w[i].done.id] = true;
	}
	assert_int_equal(count_rows(), 6);
	metrics_close();
}

/* What a request whose row was refused got: nothing written, the refusal. */
static void assert_refused(const struct grouped_write *w)
{
	assert_int_equal(w->res, DB_INTEGRITY);
	assert_int_equal(w->fail.res, DB_INTEGRITY);
	assert_string_equal(w->fail.step, "insert");
	assert_string_equal(w->done.failed, "insert");
	assert_string_equal(w->fail.name, "SQLITE_CONSTRAINT_TRIGGER");
	assert_string_equal(w->fail.msg, "rows named refused are refused");
	assert_int_equal(w->done.id, 0);
	assert_false(w->done.kept);
}

/*
 * A trigger added from outside refuses two of the batch's rows, one in
 * a transaction (its read already done in its savepoint) and one in
 * autocommit (its read after the write never runs): each is rolled back
 * alone and answered with its refusal; the other four commit.
 */
static void a_refused_row_is_rolled_back_alone(void **state)
{
	struct grouped_write w[6];
	struct config cfg;

	(void)state;
	dbtest_config(&t, &cfg, grouped_env);
	dbtest_migrate(&cfg);
	dbtest_exec(&t, "CREATE TRIGGER refuse BEFORE INSERT ON basic_model_row"
		    " WHEN NEW.name = 'refused'"
		    " BEGIN SELECT RAISE(ABORT, 'rows named refused are refused'); END;");
	open_metrics();
	writing_shapes(w);
	snprintf(w[2].name, sizeof(w[2].name), "refused");	/* write_read/ */
	snprintf(w[4].name, sizeof(w[4].name), "refused");	/* read_write_transaction/ */
	run_in_one_batch(&cfg, w, 6);
	assert_refused(&w[2]);
	assert_int_equal(w[2].done.nread, -1);
	assert_refused(&w[4]);
	for (int i = 0; i < 6; i++)
		if (i != 2 && i != 4)
			assert_committed(&w[i], 4);
	assert_int_equal(count_rows(), 4);
	assert_int_equal(dbtest_query_int(&t, "SELECT count(*) FROM basic_model_row"
					  " WHERE name = 'refused'"), 0);
	metrics_close();
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
		cmocka_unit_test_setup_teardown(every_grouped_write_commits_in_one_batch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_refused_row_is_rolled_back_alone, setup, teardown),
	};

	return cmocka_run_group_tests_name("rows", tests, NULL, NULL);
}
