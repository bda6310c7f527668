#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *log_progname = "sqlite-fcgi";

void log_init(const char *progname)
{
	log_progname = progname;
}

bool log_due(_Atomic time_t *last)
{
	time_t now = time(NULL);

	return atomic_exchange_explicit(last, now, memory_order_relaxed) != now;
}

static void log_vline(const char *level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_vline(const char *level, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_progname,
			 (long)getpid(), level);

	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/*
	 * One fprintf per line, so that lines of concurrent workers do not mix.
	 * A log line that cannot be written has nowhere else to be reported.
	 */
	(void)fprintf(stderr, "%s\n", line);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("info", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("warn", fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
