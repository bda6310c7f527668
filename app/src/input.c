#include "input.h"

#include <stdio.h>
#include <string.h>

void input_init(struct user_input *in)
{
	memset(in, 0, sizeof(*in));
}

bool input_is_empty(const struct user_input *in)
{
	return !in->f_username.present && !in->f_email.present &&
	       !in->f_password.present;
}

static bool name_is(const char *name, size_t namelen, const char *want)
{
	return namelen == strlen(want) && memcmp(name, want, namelen) == 0;
}

void input_quote_name(const char *name, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < 40 && o + 2 < outlen; i++) {
		unsigned char c = (unsigned char)name[i];

		out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	out[o] = '\0';
}

int input_set(struct user_input *in, const char *name, size_t namelen,
	      const char *value, size_t vlen, char *err, size_t errlen)
{
	struct { const char *name; char *buf; size_t max; struct input_field *f; } fields[] = {
		{ "username", in->username, INPUT_USERNAME_MAX, &in->f_username },
		{ "email", in->email, INPUT_EMAIL_MAX, &in->f_email },
		{ "password", in->password, INPUT_PASSWORD_MAX, &in->f_password },
	};
	char shown[48];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct input_field *f = fields[i].f;

		if (!name_is(name, namelen, fields[i].name))
			continue;
		if (f->present) {
			snprintf(err, errlen, "%s: given more than once", fields[i].name);
			return -1;
		}
		f->present = true;
		f->too_long = vlen > fields[i].max;
		f->len = f->too_long ? 0 : vlen;
		if (!f->too_long)
			memcpy(fields[i].buf, value, vlen);
		fields[i].buf[f->len] = '\0';
		return 0;
	}
	input_quote_name(name, namelen, shown, sizeof(shown));
	snprintf(err, errlen, "unknown field \"%s\": expected username, email, password", shown);
	return -1;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long input_percent_decode(const char *src, size_t n, char *dst, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_value(src[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value(src[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o == cap)
			return (long)cap + 1;
		dst[o++] = c;
	}
	return (long)o;
}

/* Decodes one name=value pair of a form body and sets the field. */
static int form_pair(void *ctx, const char *raw_name, size_t raw_nlen,
		     const char *raw_value, size_t raw_vlen, char *err, size_t errlen)
{
	struct user_input *in = ctx;
	/* Big enough for any value, plus one byte to notice one too long. */
	char name[32], value[INPUT_PASSWORD_MAX + 1];
	long klen = input_percent_decode(raw_name, raw_nlen, name, sizeof(name));
	long vlen = input_percent_decode(raw_value, raw_vlen, value, sizeof(value));
	int ret;

	if (klen < 0 || vlen < 0) {
		snprintf(err, errlen, "malformed form body: bad percent-encoding");
		return -1;
	}
	/* An over-long name is unknown anyway: name_is() never matches it. */
	if ((size_t)klen > sizeof(name))
		klen = sizeof(name);
	ret = input_set(in, name, (size_t)klen, value, (size_t)vlen, err, errlen);
	explicit_bzero(value, sizeof(value));
	return ret;
}

int input_form_each(const char *body, size_t len, input_pair_fn pair, void *ctx,
		    char *err, size_t errlen)
{
	size_t start = 0;

	while (start < len) {
		const char *amp = memchr(body + start, '&', len - start);
		size_t end = amp ? (size_t)(amp - body) : len;
		const char *eq = memchr(body + start, '=', end - start);
		size_t nlen = eq ? (size_t)(eq - body) - start : end - start;
		int ret;

		/* Empty pairs ("a=1&&b=2", a trailing '&') are skipped, as browsers do. */
		if (end > start &&
		    (ret = pair(ctx, body + start, nlen, eq ? eq + 1 : body + end,
				eq ? end - nlen - start - 1 : 0, err, errlen)) != 0)
			return ret;
		start = end + 1;
	}
	return 0;
}

int input_parse_form(struct user_input *in, const char *body, size_t len,
		     char *err, size_t errlen)
{
	return input_form_each(body, len, form_pair, in, err, errlen);
}

static bool username_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '@' || c == '.' || c == '+' ||
	       c == '-' || c == '_';
}

size_t input_utf8_sequence(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static int check_username(const struct user_input *in, char *err, size_t errlen)
{
	const struct input_field *f = &in->f_username;

	if (!f->present || (!f->too_long && f->len == 0)) {
		snprintf(err, errlen, "username: this field is required");
		return -1;
	}
	if (f->too_long) {
		snprintf(err, errlen, "username: at most %d characters", INPUT_USERNAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < f->len; i++) {
		if (!username_char((unsigned char)in->username[i])) {
			snprintf(err, errlen, "username: only letters, digits and @ . + - _ are allowed");
			return -1;
		}
	}
	return 0;
}

static int check_email(const struct user_input *in, char *err, size_t errlen)
{
	const struct input_field *f = &in->f_email;
	const unsigned char *s = (const unsigned char *)in->email;
	size_t at = 0, ats = 0;

	if (!f->present || (!f->too_long && f->len == 0))
		return 0;	/* optional, as in Django's create_user() */
	if (f->too_long) {
		snprintf(err, errlen, "email: at most %d bytes", INPUT_EMAIL_MAX);
		return -1;
	}
	for (size_t i = 0; i < f->len;) {
		size_t seq = input_utf8_sequence(s + i, f->len - i);

		if (seq == 0 || s[i] <= ' ' || s[i] == 0x7f) {
			snprintf(err, errlen, "email: not a valid address (spaces,"
				 " control characters or invalid UTF-8)");
			return -1;
		}
		if (s[i] == '@') {
			at = i;
			ats++;
		}
		i += seq;
	}
	if (ats != 1 || at == 0 || at == f->len - 1) {
		snprintf(err, errlen, "email: not a valid address (needs one @"
			 " between a name and a domain)");
		return -1;
	}
	return 0;
}

static int check_password(const struct user_input *in, char *err, size_t errlen)
{
	const struct input_field *f = &in->f_password;

	if (!f->present || (!f->too_long && f->len == 0)) {
		snprintf(err, errlen, "password: this field is required");
		return -1;
	}
	if (f->too_long) {
		snprintf(err, errlen, "password: at most %d bytes", INPUT_PASSWORD_MAX);
		return -1;
	}
	/* crypt() takes a C string: a NUL byte would cut the password short. */
	if (memchr(in->password, '\0', f->len) != NULL) {
		snprintf(err, errlen, "password: must not contain NUL bytes");
		return -1;
	}
	/*
	 * Django decodes a form body as UTF-8, putting U+FFFD for what is not:
	 * a user stored from other bytes could never log in there.
	 */
	for (size_t i = 0, seq; i < f->len; i += seq) {
		seq = input_utf8_sequence((const unsigned char *)in->password + i, f->len - i);
		if (seq == 0) {
			snprintf(err, errlen, "password: must be UTF-8");
			return -1;
		}
	}
	return 0;
}

int input_validate(const struct user_input *in, char *err, size_t errlen)
{
	if (check_username(in, err, errlen) != 0 ||
	    check_email(in, err, errlen) != 0 ||
	    check_password(in, err, errlen) != 0)
		return -1;
	return 0;
}

void input_wipe(struct user_input *in)
{
	explicit_bzero(in->password, sizeof(in->password));
}
