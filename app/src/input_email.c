#include "input.h"

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

/*
 * Django's BaseUserManager.normalize_email: the part after the last '@'
 * lowercased as Python's str.lower does it (Unicode's full lowercase
 * mapping, with the final-sigma rule), the part before kept as it is.
 */

#define CAPITAL_I_WITH_DOT 0x130	/* lowercases to two code points */
#define COMBINING_DOT_ABOVE 0x307
#define CAPITAL_SIGMA 0x3a3
#define SMALL_FINAL_SIGMA 0x3c2

/*
 * C.UTF-8's case mappings, without changing the process's locale.  glibc
 * has C.UTF-8 built in since 2.35 (Debian 12 has 2.36); were it missing,
 * only ASCII would be lowercased (newlocale's failure is that fallback).
 */
static locale_t utf8_locale(void)
{
	static locale_t loc;

	if (loc == (locale_t)0)
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	return loc;
}

static uint32_t lower(uint32_t cp)
{
	locale_t loc = utf8_locale();

	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
	return loc != (locale_t)0 ? (uint32_t)towlower_l((wint_t)cp, loc) : cp;
}

static int is_cased(uint32_t cp)
{
	locale_t loc = utf8_locale();

	if (cp < 0x80 || loc == (locale_t)0)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
	return iswlower_l((wint_t)cp, loc) || iswupper_l((wint_t)cp, loc);
}

/*
 * Unicode's Case_Ignorable, for what a domain may hold: the word-inner
 * punctuation ('.', ':', apostrophes, middle dots) and the combining and
 * modifier marks.  Only the final-sigma rule asks.
 */
static int is_case_ignorable(uint32_t cp)
{
	static const uint32_t mark_ranges[][2] = {
		{ 0x2b0, 0x36f }, { 0x483, 0x489 }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff },
		{ 0x20d0, 0x20ff }, { 0xfe20, 0xfe2f },
	};
	static const uint32_t marks_alone[] = {
		'.', ':', '\'', 0xb7, 0x387, 0x2018, 0x2019, 0x2024,
	};

	for (size_t i = 0; i < sizeof(marks_alone) / sizeof(marks_alone[0]); i++)
		if (cp == marks_alone[i])
			return 1;
	for (size_t i = 0; i < sizeof(mark_ranges) / sizeof(mark_ranges[0]); i++)
		if (cp >= mark_ranges[i][0] && cp <= mark_ranges[i][1])
			return 1;
	return 0;
}

/* Whether a cased letter comes before cps[i] (step -1) or after it (+1). */
static int cased_beside(const uint32_t *cps, size_t n, size_t i, int step)
{
	for (size_t j = i; step < 0 ? j > 0 : j + 1 < n;) {
		j = step < 0 ? j - 1 : j + 1;
		if (!is_case_ignorable(cps[j]))
			return is_cased(cps[j]);
	}
	return 0;
}

/* Decodes s[0..n), valid UTF-8 (check_email checked it), into cps. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cps)
{
	size_t count = 0;

	for (size_t i = 0; i < n; count++) {
		size_t len = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
		uint32_t cp = len == 1 ? s[i] : s[i] & (0xffu >> (len + 1));

		for (size_t k = 1; k < len && i + k < n; k++)
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		cps[count] = cp;
		i += len;
	}
	return count;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* cps[i] lowercased, as UTF-8 in out (8 bytes); returns its length. */
static size_t lower_at(const uint32_t *cps, size_t n, size_t i, char *out)
{
	size_t len;

	if (cps[i] == CAPITAL_I_WITH_DOT) {
		len = utf8_encode('i', out);
		return len + utf8_encode(COMBINING_DOT_ABOVE, out + len);
	}
	if (cps[i] == CAPITAL_SIGMA && cased_beside(cps, n, i, -1) &&
	    !cased_beside(cps, n, i, +1))
		return utf8_encode(SMALL_FINAL_SIGMA, out);
	return utf8_encode(lower(cps[i]), out);
}

int input_normalize(struct user_input *in, char *err, size_t errlen)
{
	uint32_t cps[INPUT_EMAIL_MAX];
	char out[INPUT_EMAIL_MAX + 1];
	const char *at = strrchr(in->email, '@');
	size_t o, n;

	if (!in->f_email.present || in->f_email.too_long || at == NULL)
		return 0;
	o = (size_t)(at + 1 - in->email);
	memcpy(out, in->email, o);
	n = utf8_decode((const unsigned char *)at + 1, in->f_email.len - o, cps);
	for (size_t i = 0; i < n; i++) {
		char cp[8];
		size_t len = lower_at(cps, n, i, cp);

		/* A lowercase letter may take more bytes than its capital. */
		if (o + len > INPUT_EMAIL_MAX) {
			snprintf(err, errlen, "email: at most %d bytes", INPUT_EMAIL_MAX);
			return -1;
		}
		memcpy(out + o, cp, len);
		o += len;
	}
	out[o] = '\0';
	memcpy(in->email, out, o + 1);
	in->f_email.len = o;
	return 0;
}
