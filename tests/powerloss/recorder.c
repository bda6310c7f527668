/*
 * A write recorder for the power-loss test (LD_PRELOAD).
 *
 * Every process that loads it appends, to the file named by POWERLOSS_LOG,
 * one record per operation on the database named by POWERLOSS_DB, its -wal
 * and -journal files and their directory: each write with its offset and
 * bytes, each ftruncate, fsync/fdatasync/sync_file_range, unlink and the
 * creation of a file.  Records from all the workers land in one global
 * order: the log is opened with O_APPEND and each record is one write(2),
 * which the kernel does not interleave with another process's.
 *
 * The order matters only where it can change the outcome, and there it is
 * conservative:
 *   - a write is logged after it returns, while SQLite still holds the file
 *     lock that orders it against the other workers' writes;
 *   - a sync is logged before it starts, so a write logged before the sync
 *     had completed before the sync began: the sync covered it.  A write that
 *     races with a sync is logged after it and counts as not covered.
 * SQLite 3.40 on Linux uses pwrite64, fdatasync (fsync on directories
 * too), ftruncate, unlink and open(O_CREAT) on these files (checked with
 * strace); the other calls are recorded too, so that a change of SQLite's
 * is seen rather than missed: tests/powerloss/replay.py refuses a log it
 * does not understand.
 *
 * Record: struct record, then len bytes of data (for writes).  The -shm file
 * is not recorded: SQLite rebuilds it from the WAL after a crash.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_NONE, K_DB, K_WAL, K_JOURNAL, K_DIR };
enum op { OP_WRITE = 1, OP_TRUNCATE, OP_SYNC, OP_UNLINK, OP_CREATE, OP_UNSUPPORTED };

struct record {
	uint32_t magic;		/* "PLR1", to find a torn log */
	uint32_t pid;
	uint8_t op;
	uint8_t kind;
	uint16_t pad;
	uint32_t len;		/* bytes of data that follow */
	uint64_t offset;	/* write offset, or new size for a truncate */
} __attribute__((packed));

#define RECORD_MAGIC 0x31524c50u
#define MAX_FDS 4096

static char db_path[PATH_MAX], dir_path[PATH_MAX], log_path[PATH_MAX];
static int log_fd = -1;
static unsigned char fd_kind[MAX_FDS];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_unlink)(const char *);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void resolve_all(void)
{
	RESOLVE(write); RESOLVE(pwrite); RESOLVE(pwrite64); RESOLVE(writev);
	RESOLVE(pwritev); RESOLVE(fsync); RESOLVE(fdatasync);
	RESOLVE(sync_file_range); RESOLVE(ftruncate); RESOLVE(ftruncate64);
	RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
	RESOLVE(close); RESOLVE(unlink);
}

/* Another library's constructor may call us before ours has run. */
#define ENSURE(name) do { if (real_##name == NULL) resolve_all(); } while (0)

__attribute__((constructor)) static void recorder_init(void)
{
	const char *db = getenv("POWERLOSS_DB"), *logname = getenv("POWERLOSS_LOG");
	char *slash;

	resolve_all();
	if (db == NULL || logname == NULL || db[0] != '/' || strlen(db) >= sizeof(db_path) ||
	    strlen(logname) >= sizeof(log_path))
		return;
	strcpy(log_path, logname);
	strcpy(db_path, db);
	strcpy(dir_path, db);
	slash = strrchr(dir_path, '/');
	if (slash == dir_path)
		slash[1] = '\0';
	else
		*slash = '\0';
	log_fd = real_open(logname, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static enum kind path_kind(const char *path)
{
	size_t n = strlen(db_path);

	if (log_fd < 0 || path == NULL)
		return K_NONE;
	if (strcmp(path, dir_path) == 0)
		return K_DIR;
	if (strncmp(path, db_path, n) != 0)
		return K_NONE;
	if (path[n] == '\0')
		return K_DB;
	if (strcmp(path + n, "-wal") == 0)
		return K_WAL;
	if (strcmp(path + n, "-journal") == 0)
		return K_JOURNAL;
	return K_NONE;
}

static enum kind fd_kind_of(int fd)
{
	return (fd >= 0 && fd < MAX_FDS) ? (enum kind)fd_kind[fd] : K_NONE;
}

/* One write(2) per record; a failure aborts: a silent gap would lie. */
static void log_record(enum op op, enum kind kind, uint64_t offset,
		       const void *data, size_t len)
{
	struct record r = { RECORD_MAGIC, (uint32_t)getpid(), (uint8_t)op,
			    (uint8_t)kind, 0, (uint32_t)len, offset };
	size_t total = sizeof(r) + len;
	unsigned char *buf = malloc(total);
	int saved = errno;

	if (buf == NULL)
		abort();
	memcpy(buf, &r, sizeof(r));
	if (len > 0)
		memcpy(buf + sizeof(r), data, len);
	if (real_write(log_fd, buf, total) != (ssize_t)total) {
		/* A program that closed every descriptor closed ours too: reopen. */
		log_fd = real_open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (log_fd < 0 || real_write(log_fd, buf, total) != (ssize_t)total)
			abort();
	}
	free(buf);
	errno = saved;
}

static void note_open(const char *path, int flags, int fd)
{
	enum kind k = path_kind(path);

	if (fd < 0 || fd >= MAX_FDS)
		return;
	fd_kind[fd] = (unsigned char)k;
	if (k != K_NONE && k != K_DIR && (flags & O_CREAT))
		log_record(OP_CREATE, k, 0, NULL, 0);
	if (k != K_NONE && (flags & (O_SYNC | O_DSYNC | O_TRUNC)))
		log_record(OP_UNSUPPORTED, k, (uint64_t)flags, NULL, 0);
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/*
 * open, open64, openat and openat64 differ only in their leading
 * arguments: each calls the real one, then records what it opened.
 * (SQLite passes absolute paths to openat too; a relative one is not
 * resolved against dirfd.)
 */
#define OPEN_INTERPOSER(name, params, args)				\
	int name params							\
	{								\
		va_list ap;						\
		mode_t mode;						\
		int fd;							\
									\
		ENSURE(name);						\
		va_start(ap, flags);					\
		mode = open_mode(flags, ap);				\
		va_end(ap);						\
		fd = real_##name args;					\
		note_open(path, flags, fd);				\
		return fd;						\
	}

OPEN_INTERPOSER(open, (const char *path, int flags, ...), (path, flags, mode))
OPEN_INTERPOSER(open64, (const char *path, int flags, ...), (path, flags, mode))
OPEN_INTERPOSER(openat, (int dirfd, const char *path, int flags, ...),
		(dirfd, path, flags, mode))
OPEN_INTERPOSER(openat64, (int dirfd, const char *path, int flags, ...),
		(dirfd, path, flags, mode))

int close(int fd)
{
	ENSURE(close);
	if (fd >= 0 && fd < MAX_FDS)
		fd_kind[fd] = K_NONE;
	return real_close(fd);
}

static void note_write(int fd, off_t offset, const void *buf, ssize_t n)
{
	enum kind k = fd_kind_of(fd);

	if (k != K_NONE && n > 0)
		log_record(OP_WRITE, k, (uint64_t)offset, buf, (size_t)n);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
	ssize_t n;

	ENSURE(pwrite64);
	n = real_pwrite64(fd, buf, count, offset);
	note_write(fd, offset, buf, n);
	return n;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	ssize_t n;

	ENSURE(pwrite);
	n = real_pwrite(fd, buf, count, offset);
	note_write(fd, offset, buf, n);
	return n;
}

/* write() at the file position: SQLite does not use it on these files. */
ssize_t write(int fd, const void *buf, size_t count)
{
	enum kind k = fd_kind_of(fd);
	off_t pos = k != K_NONE ? lseek(fd, 0, SEEK_CUR) : 0;
	ssize_t n;

	ENSURE(write);
	n = real_write(fd, buf, count);
	note_write(fd, pos, buf, n);
	return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ENSURE(writev);
	if (fd_kind_of(fd) != K_NONE)
		log_record(OP_UNSUPPORTED, fd_kind_of(fd), 0, NULL, 0);
	return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t offset)
{
	ENSURE(pwritev);
	if (fd_kind_of(fd) != K_NONE)
		log_record(OP_UNSUPPORTED, fd_kind_of(fd), 0, NULL, 0);
	return real_pwritev(fd, iov, cnt, offset);
}

static void note_sync(int fd)
{
	enum kind k = fd_kind_of(fd);

	if (k != K_NONE)
		log_record(OP_SYNC, k, 0, NULL, 0);
}

int fsync(int fd)
{
	ENSURE(fsync);
	note_sync(fd);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	ENSURE(fdatasync);
	note_sync(fd);
	return real_fdatasync(fd);
}

/* Not a durability barrier (no metadata, no disk cache flush): recorded as unsupported. */
int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	ENSURE(sync_file_range);
	if (fd_kind_of(fd) != K_NONE)
		log_record(OP_UNSUPPORTED, fd_kind_of(fd), 0, NULL, 0);
	return real_sync_file_range(fd, offset, nbytes, flags);
}

static void note_truncate(int fd, off_t length, int rc)
{
	enum kind k = fd_kind_of(fd);

	if (k != K_NONE && rc == 0)
		log_record(OP_TRUNCATE, k, (uint64_t)length, NULL, 0);
}

int ftruncate(int fd, off_t length)
{
	int rc;

	ENSURE(ftruncate);
	rc = real_ftruncate(fd, length);
	note_truncate(fd, length, rc);
	return rc;
}

int ftruncate64(int fd, off_t length)
{
	int rc;

	ENSURE(ftruncate64);
	rc = real_ftruncate64(fd, length);
	note_truncate(fd, length, rc);
	return rc;
}

int unlink(const char *path)
{
	enum kind k = path_kind(path);
	int rc;

	ENSURE(unlink);
	rc = real_unlink(path);
	if (k != K_NONE && rc == 0)
		log_record(OP_UNLINK, k, 0, NULL, 0);
	return rc;
}
