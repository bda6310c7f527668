/*
 * libFuzzer target: a matrix write's form body (rows_input.h) through
 * rows_input_parse_form and, when it parses, rows_input_validate, which
 * reads the two floats as Python's float() does.  Besides the sanitizers'
 * checks, it asserts the contracts rows_input.h states.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "rows_input.h"

/* Each parsed value lies in text and ends with its NUL. */
static void check_values(const struct row_input *in)
{
	for (int i = 0; i < ROW_NFIELDS; i++) {
		const struct row_value *f = &in->field[i];

		if (!f->present)
			continue;
		if (f->off + f->len >= sizeof(in->text) || f->off + f->len >= in->used ||
		    in->text[f->off + f->len] != '\0')
			abort();
	}
}

/* What rows_input_validate promises when it accepts: texts without NUL, finite floats. */
static void check_row(const struct row_input *in)
{
	const char *texts[] = { in->row.name, in->row.campaign, in->row.voice,
				in->row.recognize, in->row.growth, in->row.yard,
				in->row.discussion };
	static const int text_fields[] = { ROW_NAME, ROW_CAMPAIGN, ROW_VOICE, ROW_RECOGNIZE,
					   ROW_GROWTH, ROW_YARD, ROW_DISCUSSION };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i] == NULL || strlen(texts[i]) != in->field[text_fields[i]].len)
			abort();
	if (!isfinite(in->row.inside) || !isfinite(in->row.side))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct row_input in;
	char err[ERR_LEN];

	rows_input_init(&in);
	memset(err, 'x', sizeof(err));
	if (rows_input_parse_form(&in, (const char *)data, size, err, sizeof(err)) != 0) {
		fuzz_check_message(err, sizeof(err));
		return 0;
	}
	check_values(&in);
	memset(err, 'x', sizeof(err));
	if (rows_input_validate(&in, err, sizeof(err)) != 0)
		fuzz_check_message(err, sizeof(err));
	else
		check_row(&in);
	return 0;
}
