#ifndef SQLITE_FCGI_MONOTONIC_H
#define SQLITE_FCGI_MONOTONIC_H

#include <stdint.h>
#include <time.h>

/*
 * The monotonic clock in nanoseconds, for waits and durations.
 * clock_gettime fails only for a clock the kernel does not know or a bad
 * pointer (EINVAL, EFAULT): CLOCK_MONOTONIC exists on every Linux, and ts
 * is ours, so its result is not checked.
 */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts = { 0, 0 };

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
