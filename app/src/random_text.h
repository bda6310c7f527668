#ifndef SQLITE_FCGI_RANDOM_TEXT_H
#define SQLITE_FCGI_RANDOM_TEXT_H

#include <stddef.h>

/*
 * Fills out[0..n) with random letters and digits (Django's
 * get_random_string alphabet) from the OS's random source, without modulo
 * bias, and does not terminate it.  Returns 0, or -1 with errno set when
 * getrandom fails.
 */
int random_alnum(char *out, size_t n);

#endif
