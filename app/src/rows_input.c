#include "rows_input.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "input.h"

static const struct {
	const char *name;
	bool is_float;
} fields[ROW_NFIELDS] = {
	[ROW_NAME] = { "name", false },
	[ROW_CAMPAIGN] = { "campaign", false },
	[ROW_VOICE] = { "voice", false },
	[ROW_RECOGNIZE] = { "recognize", false },
	[ROW_INSIDE] = { "inside", true },
	[ROW_GROWTH] = { "growth", false },
	[ROW_SIDE] = { "side", true },
	[ROW_YARD] = { "yard", false },
	[ROW_DISCUSSION] = { "discussion", false },
};

#define FIELD_LIST "name, campaign, voice, recognize, inside, growth, side, yard, discussion"

void rows_input_init(struct row_input *in)
{
	in->used = 0;
	memset(in->field, 0, sizeof(in->field));
	memset(&in->row, 0, sizeof(in->row));
}

static int find_field(const char *name, size_t len)
{
	for (int i = 0; i < ROW_NFIELDS; i++)
		if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Decodes one name=value pair into in (an input_pair_fn). */
static int row_pair(void *ctx, const char *raw_name, size_t raw_nlen,
		    const char *raw_value, size_t raw_vlen, char *err, size_t errlen)
{
	struct row_input *in = ctx;
	/* Longer than any field's name: a longer one is unknown anyway. */
	char name[32], shown[48];
	long decoded = input_percent_decode(raw_name, raw_nlen, name, sizeof(name));
	size_t nlen = decoded > (long)sizeof(name) ? sizeof(name) : (size_t)decoded;
	long vlen;
	int f;

	if (decoded < 0)
		goto malformed;
	if ((f = find_field(name, nlen)) < 0) {
		input_quote_name(name, nlen, shown, sizeof(shown));
		snprintf(err, errlen, "unknown field \"%s\": expected " FIELD_LIST, shown);
		return -1;
	}
	if (in->field[f].present) {
		snprintf(err, errlen, "%s: given more than once", fields[f].name);
		return -1;
	}
	/*
	 * Always fits: the body is at most ROWS_FORM_MAX bytes, decoding never
	 * lengthens it, and text has room for one NUL per field.
	 */
	vlen = input_percent_decode(raw_value, raw_vlen, in->text + in->used,
				    sizeof(in->text) - in->used - 1);
	if (vlen < 0 || (size_t)vlen >= sizeof(in->text) - in->used)
		goto malformed;
	in->field[f] = (struct row_value){ .off = in->used, .len = (size_t)vlen, .present = true };
	in->text[in->used + (size_t)vlen] = '\0';
	in->used += (size_t)vlen + 1;
	return 0;
malformed:
	snprintf(err, errlen, "malformed form body: bad percent-encoding");
	return -1;
}

int rows_input_parse_form(struct row_input *in, const char *body, size_t len,
			  char *err, size_t errlen)
{
	if (len > ROWS_FORM_MAX) {
		snprintf(err, errlen, "form body: at most %d bytes", ROWS_FORM_MAX);
		return -1;
	}
	return input_form_each(body, len, row_pair, in, err, errlen) != 0 ? -1 : 0;
}

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');	/* Python's ASCII whitespace */
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skips digits with single underscores between them; returns how many digits. */
static size_t skip_digits(const char **p, const char *end)
{
	const char *q = *p;
	size_t n = 0;

	while (q < end && is_digit(*q)) {
		n++;
		q++;
		if (q + 1 < end && *q == '_' && is_digit(q[1]))
			q++;
	}
	*p = q;
	return n;
}

/* Whether [p, end) is digits, an optional fraction and an optional exponent. */
static bool is_decimal(const char *p, const char *end)
{
	size_t digits = skip_digits(&p, end);

	if (p < end && *p == '.') {
		p++;
		digits += skip_digits(&p, end);
	}
	if (digits == 0)
		return false;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (skip_digits(&p, end) == 0)
			return false;
	}
	return p == end;
}

static bool is_word(const char *p, const char *end, const char *word)
{
	return (size_t)(end - p) == strlen(word) && strncasecmp(p, word, strlen(word)) == 0;
}

enum rows_float rows_parse_float(char *s, size_t len, double *out)
{
	char *start = s, *end = s + len, *o, *stop;
	const char *digits;
	double v;

	while (start < end && is_space(*start))
		start++;
	while (end > start && is_space(end[-1]))
		end--;
	digits = start + (start < end && (*start == '+' || *start == '-'));
	if (is_word(digits, end, "inf") || is_word(digits, end, "infinity") ||
	    is_word(digits, end, "nan"))
		return ROWS_FLOAT_NOT_FINITE;
	if (!is_decimal(digits, end))
		return ROWS_FLOAT_MALFORMED;
	/* strtod does not skip underscores; the grammar is checked, so drop them. */
	o = start;
	for (const char *p = start; p < end; p++)
		if (*p != '_')
			*o++ = *p;
	*o = '\0';
	/* The C locale's decimal point: this program never calls setlocale. */
	v = strtod(start, &stop);
	if (stop != o)
		return ROWS_FLOAT_MALFORMED;
	if (!isfinite(v))
		return ROWS_FLOAT_NOT_FINITE;	/* past DBL_MAX: Python's inf */
	*out = v;
	return ROWS_FLOAT_OK;
}

static int check_text(const char *name, const char *s, size_t len, char *err,
		      size_t errlen)
{
	for (size_t i = 0; i < len;) {
		size_t seq = input_utf8_sequence((const unsigned char *)s + i, len - i);

		if (s[i] == '\0') {
			snprintf(err, errlen, "%s: must not contain NUL bytes", name);
			return -1;
		}
		if (seq == 0) {
			snprintf(err, errlen, "%s: not valid UTF-8", name);
			return -1;
		}
		i += seq;
	}
	return 0;
}

static int check_float(const char *name, char *s, size_t len, double *out,
		       char *err, size_t errlen)
{
	switch (rows_parse_float(s, len, out)) {
	case ROWS_FLOAT_OK:
		return 0;
	case ROWS_FLOAT_NOT_FINITE:
		snprintf(err, errlen, "%s: must be finite: nan, inf and numbers past"
			 " 1.8e308 are refused", name);
		return -1;
	case ROWS_FLOAT_MALFORMED:
		break;
	}
	snprintf(err, errlen, "%s: not a number: expected a decimal such as 1.5, -2"
		 " or 3e-4", name);
	return -1;
}

int rows_input_validate(struct row_input *in, char *err, size_t errlen)
{
	const char **texts[ROW_NFIELDS] = {
		[ROW_NAME] = &in->row.name, [ROW_CAMPAIGN] = &in->row.campaign,
		[ROW_VOICE] = &in->row.voice, [ROW_RECOGNIZE] = &in->row.recognize,
		[ROW_GROWTH] = &in->row.growth, [ROW_YARD] = &in->row.yard,
		[ROW_DISCUSSION] = &in->row.discussion,
	};
	double *floats[ROW_NFIELDS] = { [ROW_INSIDE] = &in->row.inside,
					[ROW_SIDE] = &in->row.side };

	for (int i = 0; i < ROW_NFIELDS; i++) {
		const struct row_value *f = &in->field[i];
		char *value = in->text + f->off;

		if (!f->present) {
			snprintf(err, errlen, "%s: this field is required", fields[i].name);
			return -1;
		}
		if (fields[i].is_float
		    ? check_float(fields[i].name, value, f->len, floats[i], err, errlen) != 0
		    : check_text(fields[i].name, value, f->len, err, errlen) != 0)
			return -1;
		if (!fields[i].is_float)
			*texts[i] = value;
	}
	return 0;
}
