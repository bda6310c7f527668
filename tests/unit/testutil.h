#ifndef SQLITE_FCGI_TESTUTIL_H
#define SQLITE_FCGI_TESTUTIL_H

/* Helpers shared by the unit tests: settings from a list, temporary files. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

/* The environment a test hands to config_load: "NAME=value" strings. */
static const char *const *test_env;

static const char *test_getenv(const char *name)
{
	size_t n = strlen(name);

	for (const char *const *e = test_env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Loads settings from env (NULL-terminated); returns config_load's result. */
static inline int test_config(struct config *cfg, const char *const *env,
			      char *err, size_t errlen)
{
	test_env = env;
	return config_load(cfg, test_getenv, err, errlen);
}

/* A fresh directory under /tmp; the test removes it with test_rmdir. */
static inline void test_mkdtemp(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/sqlite-fcgi-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static inline void test_rmdir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
