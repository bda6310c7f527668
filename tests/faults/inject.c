/*
 * Fault injection for the fault tests (LD_PRELOAD).
 *
 * While a trigger file exists in the directory named by FAULTS_DIR, the
 * calls it names fail in every process that loads this library:
 *
 *   io-write   pwrite and pwrite64 on the database named by FAULTS_DB, its
 *              -wal or its -journal: -1, EIO
 *   io-sync    fsync and fdatasync on those files: -1, EIO
 *   getrandom  getrandom: -1, ENOSYS (as on a kernel without it)
 *
 * EIO is what the kernel returns when the disk fails a write or a
 * writeback; SQLite turns it into SQLITE_IOERR_WRITE / SQLITE_IOERR_FSYNC.
 * SQLite 3.40 on Linux writes these files with pwrite64 and syncs them with
 * fdatasync (see tests/powerloss/recorder.c); the other names are failed
 * too, so that a change of SQLite's still meets the fault.
 *
 * A trigger is looked up (access(2)) on each call, so a test turns a fault
 * on and off from outside, for every worker at once, without a restart.
 * Without FAULTS_DIR the library does nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <unistd.h>

#include "../../bench/shim_db_file.h"

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static ssize_t (*real_getrandom)(void *, size_t, unsigned int);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)
/* Another library's constructor may call us before ours has run. */
#define ENSURE(name) do { if (real_##name == NULL) RESOLVE(name); } while (0)

/* The trigger is on: FAULTS_DIR/name exists. */
static int fault_on(const char *name)
{
	const char *dir = getenv("FAULTS_DIR");
	char path[PATH_MAX];
	int saved = errno, on;

	if (dir == NULL || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return 0;
	on = access(path, F_OK) == 0;
	errno = saved;
	return on;
}

/* fd is open on FAULTS_DB, its -wal or its -journal. */
static int is_db_file(int fd)
{
	const char *db = getenv("FAULTS_DB");

	return db != NULL && shim_fd_is_db_file(fd, db);
}

static int fails(const char *trigger, int fd)
{
	if (!fault_on(trigger) || !is_db_file(fd))
		return 0;
	errno = EIO;
	return 1;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	ENSURE(pwrite);
	return fails("io-write", fd) ? -1 : real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
	ENSURE(pwrite64);
	return fails("io-write", fd) ? -1 : real_pwrite64(fd, buf, count, offset);
}

int fsync(int fd)
{
	ENSURE(fsync);
	return fails("io-sync", fd) ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
	ENSURE(fdatasync);
	return fails("io-sync", fd) ? -1 : real_fdatasync(fd);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	ENSURE(getrandom);
	if (fault_on("getrandom")) {
		errno = ENOSYS;
		return -1;
	}
	return real_getrandom(buf, len, flags);
}
