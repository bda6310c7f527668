#include "input.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * application/json bodies, parsed with jansson.  The only file that
 * includes <jansson.h>.
 */

/*
 * jansson's allocator, wiping each block before it is freed: the parser
 * copies the password (its string buffer, the decoded value) and jansson's
 * free does not know sizes, so the size is kept in front of the block.
 * 16 bytes keep the alignment malloc gives.
 */
#define WIPE_HEADER 16

static void *wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HEADER)
		return NULL;
	p = malloc(n + WIPE_HEADER);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HEADER;
}

static void wipe_free(void *block)
{
	unsigned char *p = block;
	size_t n;

	if (p == NULL)
		return;
	memcpy(&n, p - WIPE_HEADER, sizeof(n));
	explicit_bzero(p, n);
	free(p - WIPE_HEADER);
}

/* SQLite's names of JSON types (json_type), as the refusals have said. */
static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "text";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		break;
	}
	return "null";
}

/*
 * A repeated key: jansson names it in its message as the body spells it
 * ("duplicate object key near '"username"'").  input_set, given the name
 * twice, words the refusal as for a form body: repeated, or unknown.
 */
static void refuse_duplicate(const json_error_t *e, char *err, size_t errlen)
{
	static const char marker[] = "near '\"";
	const char *name = strstr(e->text, marker);
	const char *end = name != NULL ? strchr(name + sizeof(marker) - 1, '"') : NULL;
	struct user_input scratch;

	if (end == NULL) {
		snprintf(err, errlen, "malformed JSON: a key given more than once");
		return;
	}
	name += sizeof(marker) - 1;
	input_init(&scratch);
	/* The second input_set refuses, for err's wording: its result is known. */
	if (input_set(&scratch, name, (size_t)(end - name), "", 0, err, errlen) == 0)
		(void)input_set(&scratch, name, (size_t)(end - name), "", 0, err, errlen);
}

/* Words jansson's refusal without quoting the body (it may hold a password). */
static enum input_result refuse(const json_error_t *e, char *err, size_t errlen)
{
	switch (json_error_code(e)) {
	case json_error_out_of_memory:
		snprintf(err, errlen, "out of memory while parsing JSON");
		return INPUT_NO_MEMORY;
	case json_error_null_character:
	case json_error_null_byte_in_key:
		snprintf(err, errlen, "JSON strings must not contain NUL (\\u0000)");
		break;
	case json_error_invalid_utf8:
		snprintf(err, errlen, "malformed JSON: invalid UTF-8");
		break;
	case json_error_duplicate_key:
		refuse_duplicate(e, err, errlen);
		break;
	default:
		snprintf(err, errlen, "malformed JSON");
		break;
	}
	return INPUT_REFUSED;
}

static enum input_result set_members(struct user_input *in, json_t *object,
				     char *err, size_t errlen)
{
	const char *key;
	json_t *value;

	json_object_foreach(object, key, value) {
		bool text = json_is_string(value);

		if (input_set(in, key, strlen(key), text ? json_string_value(value) : "",
			      text ? json_string_length(value) : 0, err, errlen) != 0)
			return INPUT_REFUSED;
		if (!text) {
			snprintf(err, errlen, "%s: must be a JSON string, not %s", key,
				 type_name(value));
			return INPUT_REFUSED;
		}
	}
	return INPUT_OK;
}

static void use_wiping_allocator(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

enum input_result input_parse_json(struct user_input *in, const char *body, size_t len,
				   char *err, size_t errlen)
{
	static pthread_once_t allocator_set = PTHREAD_ONCE_INIT;
	json_error_t e;
	json_t *root;
	enum input_result res;

	/*
	 * jansson's allocator is global: set once, before this process's first
	 * parse (no start-up order to get wrong), never while another thread
	 * parses.  pthread_once fails only for arguments it cannot accept.
	 */
	(void)pthread_once(&allocator_set, use_wiping_allocator);
	/* A raw NUL byte: jansson would call it a control character. */
	if (memchr(body, '\0', len) != NULL) {
		snprintf(err, errlen, "JSON strings must not contain NUL (\\u0000)");
		return INPUT_REFUSED;
	}
	/* Any value at the top, so that a non-object is named, not "malformed". */
	root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
	if (root == NULL) {
		res = refuse(&e, err, errlen);
	} else if (!json_is_object(root)) {
		snprintf(err, errlen, "JSON body must be an object, not %s", type_name(root));
		res = INPUT_REFUSED;
	} else {
		res = set_members(in, root, err, errlen);
	}
	json_decref(root);
	/* jansson's message quotes the body near the error. */
	explicit_bzero(&e, sizeof(e));
	return res;
}
