#ifndef SQLITE_FCGI_CONFIG_VALUE_H
#define SQLITE_FCGI_CONFIG_VALUE_H

#include <stddef.h>

struct config;
struct setting;

/*
 * Stores value v, read from variable name, in s's field of cfg
 * (config_value.c).  Returns 0, or -1 with a message in err that names
 * the variable, the value and what is allowed.
 */
int setting_store(const struct setting *s, const char *name, const char *v,
		  struct config *cfg, char *err, size_t errlen);

#endif
