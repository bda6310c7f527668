#ifndef SQLITE_FCGI_FUZZ_CHECK_H
#define SQLITE_FCGI_FUZZ_CHECK_H

/*
 * Contracts of input.h that every fuzz target checks after the sanitizers'
 * own: a refusal leaves a short, printable, NUL-terminated message; a parsed
 * field fits its buffer and is NUL-terminated; a valid input obeys the rules.
 * A broken contract aborts, which libFuzzer reports as a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "input.h"

static inline void fuzz_check_message(const char *err, size_t errlen)
{
	const char *end = memchr(err, '\0', errlen);

	if (end == NULL || end == err)
		abort();
	/* Messages echo client input only after quoting it to printable ASCII. */
	for (const unsigned char *p = (const unsigned char *)err; p < (const unsigned char *)end; p++)
		if (*p < 0x20 || *p >= 0x7f)
			abort();
}

static inline void fuzz_check_field(const struct input_field *f, const char *buf, size_t max)
{
	if (!f->present) {
		if (f->len != 0 || f->too_long)
			abort();
		return;
	}
	if (f->len > max || (f->too_long && f->len != 0) || buf[f->len] != '\0')
		abort();
}

static inline void fuzz_check_fields(const struct user_input *in)
{
	fuzz_check_field(&in->f_username, in->username, INPUT_USERNAME_MAX);
	fuzz_check_field(&in->f_email, in->email, INPUT_EMAIL_MAX);
	fuzz_check_field(&in->f_password, in->password, INPUT_PASSWORD_MAX);
}

/* What input_validate promises when it accepts. */
static inline void fuzz_check_valid(const struct user_input *in)
{
	if (input_is_empty(in))
		return;
	if (!in->f_username.present || in->f_username.len == 0 || in->f_username.too_long ||
	    strspn(in->username, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789@.+-_") != in->f_username.len)
		abort();
	if (!in->f_password.present || in->f_password.len == 0 || in->f_password.too_long ||
	    strlen(in->password) != in->f_password.len)
		abort();
	if (in->f_email.present && in->f_email.len > 0 &&
	    (in->f_email.too_long || strlen(in->email) != in->f_email.len ||
	     strchr(in->email, '@') == NULL || strchr(in->email, ' ') != NULL))
		abort();
}

/* Checks parsed fields, then validates them and checks what that promises. */
static inline void fuzz_check_parsed(const struct user_input *in)
{
	char err[ERR_LEN];

	fuzz_check_fields(in);
	memset(err, 'x', sizeof(err));
	if (input_validate(in, err, sizeof(err)) != 0)
		fuzz_check_message(err, sizeof(err));
	else
		fuzz_check_valid(in);
}

#endif
