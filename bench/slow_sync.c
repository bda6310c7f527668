/*
 * A simulated slow disk for make bench (LD_PRELOAD): each fdatasync and
 * fsync of the database adds a fixed delay after the real call, as a disk
 * whose flush takes that much longer would (consumer NVMe without
 * power-loss protection, network block storage: about 1 ms).
 *
 *   SLOW_SYNC_US  the delay in microseconds (default 1000; 0: none)
 *   SLOW_SYNC_DB  the database: only syncs of this file, its -wal and its
 *                 -journal are delayed (as /proc/self/fd names them, so a
 *                 resolved path); unset: every fdatasync and fsync
 *
 * SQLite 3.40 on Linux syncs with fdatasync alone (it imports neither fsync
 * nor sync_file_range: `nm -D libsqlite3.so.0`); fsync is delayed too, so
 * that a build of SQLite without fdatasync still meets the delay.
 *
 * The delay is simulated, and says so: the first delayed call of each
 * process writes one line to its stderr (a worker's goes to app.log).
 * slow_sync_count() returns how many calls this process has delayed, for
 * the test that checks the library is loaded and at work.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim_db_file.h"

#define DEFAULT_DELAY_US 1000L

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static atomic_ulong delayed_calls;
static atomic_flag announced = ATOMIC_FLAG_INIT;

/* Another library's constructor may call us before anything is resolved. */
#define ENSURE(name) do { \
		if (real_##name == NULL) real_##name = dlsym(RTLD_NEXT, #name); \
	} while (0)

unsigned long slow_sync_count(void);

unsigned long slow_sync_count(void)
{
	return atomic_load(&delayed_calls);
}

/* SLOW_SYNC_US, or the default when unset or not a number >= 0. */
static long delay_us(void)
{
	const char *s = getenv("SLOW_SYNC_US");
	char *end;
	long us;

	if (s == NULL || *s == '\0')
		return DEFAULT_DELAY_US;
	errno = 0;
	us = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || us < 0)
		return DEFAULT_DELAY_US;
	return us;
}

/* fd is open on SLOW_SYNC_DB, its -wal or its -journal (any file if unset). */
static int is_db_file(int fd)
{
	const char *db = getenv("SLOW_SYNC_DB");

	return db == NULL || *db == '\0' || shim_fd_is_db_file(fd, db);
}

/* Once per process: the line that labels what follows as simulated. */
static void announce(long us)
{
	char line[256];
	int len;

	if (atomic_flag_test_and_set(&announced))
		return;
	len = snprintf(line, sizeof(line),
		       "slow_sync: simulated slow disk: each fdatasync/fsync of %s delayed by %ld us (pid %ld)\n",
		       getenv("SLOW_SYNC_DB") ? getenv("SLOW_SYNC_DB") : "every file", us, (long)getpid());
	if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
		return;	/* a closed stderr loses the label, not the delay */
}

/* Sleeps us microseconds to the end, whatever signals arrive meanwhile. */
static void sleep_us(long us)
{
	struct timespec until;

	/* CLOCK_MONOTONIC always exists on Linux: nothing to fail. */
	(void)clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += us / 1000000;
	until.tv_nsec += (us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

/* The delay after a real sync of fd that returned rc; errno kept. */
static int delayed(int fd, int rc)
{
	int saved = errno;
	long us;

	if (is_db_file(fd) && (us = delay_us()) > 0) {
		announce(us);
		sleep_us(us);
		atomic_fetch_add(&delayed_calls, 1);
	}
	errno = saved;
	return rc;
}

int fdatasync(int fd)
{
	ENSURE(fdatasync);
	return delayed(fd, real_fdatasync(fd));
}

int fsync(int fd)
{
	ENSURE(fsync);
	return delayed(fd, real_fsync(fd));
}
