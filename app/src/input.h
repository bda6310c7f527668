#ifndef SQLITE_FCGI_INPUT_H
#define SQLITE_FCGI_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * The fields of a new user as a client sends them (form-urlencoded or JSON),
 * and their validation with Django's rules.  Pure functions of their input:
 * no I/O (and no allocation but jansson's), so they can be fuzzed on their own.
 */

#define INPUT_USERNAME_MAX 150
#define INPUT_EMAIL_MAX 254
/*
 * libxcrypt's crypt_rn refuses a passphrase of CRYPT_MAX_PASSPHRASE_SIZE (512)
 * bytes or more with ERANGE: a longer password must be a 400, not a failed
 * hash (password.c checks the two agree at compile time).
 */
#define INPUT_PASSWORD_MAX 511

struct input_field {
	size_t len;
	bool present;
	bool too_long;	/* given, but longer than the field's maximum */
};

struct user_input {
	char username[INPUT_USERNAME_MAX + 1];
	char email[INPUT_EMAIL_MAX + 1];
	char password[INPUT_PASSWORD_MAX + 1];
	struct input_field f_username, f_email, f_password;
};

void input_init(struct user_input *in);

/* True when no field was given (an empty POST creates a random user). */
bool input_is_empty(const struct user_input *in);

/*
 * Sets the field called name (namelen bytes) to value (vlen bytes).
 * Returns -1 with a message in err for an unknown or repeated field.
 * A value over the field's maximum is remembered as too long and reported
 * by input_validate.
 */
int input_set(struct user_input *in, const char *name, size_t namelen,
	      const char *value, size_t vlen, char *err, size_t errlen);

/*
 * The pieces of a form body, for this file's forms and the matrix's
 * (rows_input.c).  input_form_each calls pair for each name=value pair of
 * an application/x-www-form-urlencoded body, name and value still encoded
 * (a pair without '=' has an empty value), skipping empty pairs as
 * browsers do; it stops at the first call that returns nonzero and
 * returns that.  input_percent_decode decodes src[0..n) ('+' is a space,
 * %XX a byte) into dst (cap bytes): the decoded length, -1 for a broken
 * %XX, or cap + 1 when it does not fit (decoding stops there).
 */
typedef int (*input_pair_fn)(void *ctx, const char *name, size_t namelen,
			     const char *value, size_t vlen, char *err, size_t errlen);
int input_form_each(const char *body, size_t len, input_pair_fn pair, void *ctx,
		    char *err, size_t errlen);
long input_percent_decode(const char *src, size_t n, char *dst, size_t cap);
/* A client-given name made safe for a message: printable ASCII only, cut at 40. */
void input_quote_name(const char *name, size_t len, char *out, size_t outlen);
/* The length of the UTF-8 sequence at s (at most n bytes), 0 when invalid. */
size_t input_utf8_sequence(const unsigned char *s, size_t n);

/* Decodes an application/x-www-form-urlencoded body into in. */
int input_parse_form(struct user_input *in, const char *body, size_t len,
		     char *err, size_t errlen);

enum input_result {
	INPUT_OK,
	INPUT_REFUSED,		/* the client's fault: err says why (a 400) */
	INPUT_NO_MEMORY		/* ours: err says so (a 503) */
};

/*
 * Decodes an application/json body (input_json.c, with jansson) into in: one
 * object whose members username, email and password are JSON strings.
 * Refuses anything else, NUL in a string (raw or \u0000) and repeated keys.
 * Every copy of the body jansson makes is wiped before it is freed.
 */
enum input_result input_parse_json(struct user_input *in, const char *body, size_t len,
				   char *err, size_t errlen);

/*
 * Django's rules: username 1-150 of letters, digits and @.+-_; email
 * optional, at most 254 bytes of UTF-8 with one '@' between a local part
 * and a domain; password 1-511 bytes of UTF-8 without NUL.  Returns -1 with a
 * message naming the field in err when one is broken.
 */
int input_validate(const struct user_input *in, char *err, size_t errlen);

/*
 * After input_validate: the email as Django's normalize_email stores it,
 * the domain (after the last '@') lowercased as Python's str.lower does
 * (input_email.c).  Returns -1 with a message in err when the result is
 * longer than INPUT_EMAIL_MAX bytes.
 */
int input_normalize(struct user_input *in, char *err, size_t errlen);

/* Wipes the password (explicit_bzero, which the compiler may not drop). */
void input_wipe(struct user_input *in);

#endif
