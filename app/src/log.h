#ifndef SQLITE_FCGI_LOG_H
#define SQLITE_FCGI_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

/*
 * A tiny logging API: one line per event on stderr, prefixed with the
 * program name and the process id, so that lines from several workers that
 * share one stderr can be told apart.  Messages are lower case, without a
 * full stop, and start with "%s: " and __func__ where that helps.
 */

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

void log_init(const char *progname);

/*
 * True at most once a second for a given last, whichever thread asks: for
 * a warning that a fault lasting under load would repeat for every request.
 */
bool log_due(_Atomic time_t *last);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);

/* For start-up only: logs and exits with status 1. */
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
