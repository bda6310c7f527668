/*
 * libFuzzer target: an application/json body through the path the service
 * takes: input_parse_json (jansson, with its wiping allocator), then
 * input_validate.  No database: parsing a body needs none.
 */
#include <stdint.h>
#include <stdio.h>
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
	switch (input_parse_json(&in, (const char *)data, size, err, sizeof(err))) {
	case INPUT_OK:
		fuzz_check_parsed(&in);
		break;
	case INPUT_REFUSED:
	case INPUT_NO_MEMORY:
		fuzz_check_message(err, sizeof(err));
		break;
	}
	input_wipe(&in);
	return 0;
}
