#ifndef SQLITE_FCGI_ROWS_INPUT_H
#define SQLITE_FCGI_ROWS_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

/*
 * The form of the matrix's writes (docs/matrix.md): the nine fields of
 * upstream's Row, POSTed as application/x-www-form-urlencoded, and their
 * validation.  Pure functions of their input, as input.h's are, so that
 * they can be fuzzed on their own.
 */

/* The largest form taken: the request body's limit (routes_rows.c checks they agree). */
#define ROWS_FORM_MAX (64 * 1024)

/* In the model's order. */
enum row_field {
	ROW_NAME, ROW_CAMPAIGN, ROW_VOICE, ROW_RECOGNIZE, ROW_INSIDE,
	ROW_GROWTH, ROW_SIDE, ROW_YARD, ROW_DISCUSSION, ROW_NFIELDS
};

struct row_value {
	size_t off, len;	/* where the decoded value is in text */
	bool present;
};

struct row_input {
	/* The decoded values, each followed by a NUL: decoding never makes a form longer. */
	char text[ROWS_FORM_MAX + ROW_NFIELDS];
	size_t used;
	struct row_value field[ROW_NFIELDS];
	struct db_row row;	/* set by rows_input_validate; points into text */
};

void rows_input_init(struct row_input *in);

/*
 * Decodes a form body (at most ROWS_FORM_MAX bytes) into in.  Returns 0,
 * or -1 with a message in err for malformed percent-encoding, an unknown
 * field or one given twice.
 */
int rows_input_parse_form(struct row_input *in, const char *body, size_t len,
			  char *err, size_t errlen);

/*
 * Checks every field and fills in->row: each is required; a text is UTF-8
 * without NUL (it may be empty, as Django stores ""); inside and side are
 * numbers as Python's float() reads them (rows_parse_float), and finite.
 * Returns 0, or -1 with a message naming the field in err.
 */
int rows_input_validate(struct row_input *in, char *err, size_t errlen);

enum rows_float { ROWS_FLOAT_OK, ROWS_FLOAT_MALFORMED, ROWS_FLOAT_NOT_FINITE };

/*
 * Reads s (len bytes, NUL-terminated) as Python's float() reads a str:
 * surrounding whitespace, a sign, decimal digits with single underscores
 * between them, an optional fraction and exponent; "inf", "infinity" and
 * "nan" in any case.  Those three, and a number too large for a double
 * (Python's inf), are ROWS_FLOAT_NOT_FINITE.  Python also takes other
 * Unicode digits and spaces: here only ASCII ones.  s is changed (its
 * underscores are removed); *out is set only for ROWS_FLOAT_OK.
 */
enum rows_float rows_parse_float(char *s, size_t len, double *out);

#endif
