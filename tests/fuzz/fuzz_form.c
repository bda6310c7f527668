/*
 * libFuzzer target: an application/x-www-form-urlencoded body through
 * input_parse_form (percent-decoding, field names, repeats, lengths) and,
 * when it parses, input_validate.  Besides the sanitizers' checks, it
 * asserts the contracts input.h states.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct user_input in;
	char err[ERR_LEN];

	input_init(&in);
	memset(err, 'x', sizeof(err));
	if (input_parse_form(&in, (const char *)data, size, err, sizeof(err)) != 0) {
		fuzz_check_message(err, sizeof(err));
		return 0;
	}
	fuzz_check_parsed(&in);
	input_wipe(&in);
	return 0;
}
