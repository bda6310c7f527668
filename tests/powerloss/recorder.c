/*
 * A write recorder for the power-loss test (LD_PRELOAD).
 *
 * Every process that loads it appends, to the file named by POWERLOSS_LOG,
 * one record per operation on the database named by POWERLOSS_DB, its -wal
 * and -journal files and their directory: each write with its offset and
 * bytes, each ftruncate, the start and the end of each fsync/fdatasync,
 * unlink and the creation of a file.  In a FastCGI worker it also records
 * what goes over each connection accepted on the listening socket
 * (descriptor 0, FCGI_LISTENSOCK_FILENO): the bytes of the request as read,
 * and the bytes of the answer just before they are written, so that the
 * replay knows at which position of the log each answer could first have
 * left the worker (tests/powerloss/acks.py reads them).
 *
 * Records from all the processes land in one global order: the log is
 * opened with O_APPEND and each record is one write(2), which the kernel
 * does not interleave with another process's.  The order matters only
 * where it can change the outcome, and there it is conservative:
 *   - a write is logged after it returns, while SQLite still holds the file
 *     lock that orders it against the other workers' writes;
 *   - a sync is logged when it starts and again when it returned: only a
 *     write logged before the start is covered by it, and only once the
 *     end is logged is it on the disk.  A write that races with a sync is
 *     logged after its start and counts as not covered;
 *   - an answer is logged before it is written, after everything its
 *     worker did first (the commit and its sync): a crash point after that
 *     record is a crash after the client may have had the answer.
 * SQLite 3.40 on Linux uses pwrite64, fdatasync (fsync on directories
 * too), ftruncate, unlink and open(O_CREAT) on these files, and libfcgi
 * accept, read and write on its connections (checked with strace); the
 * other calls are recorded too, so that a change of SQLite's or libfcgi's
 * is seen rather than missed: tests/powerloss/replay.py refuses a log it
 * does not understand.
 *
 * Record: struct record, then len bytes of data (writes, requests and
 * answers).  The -shm file is not recorded: SQLite rebuilds it from the WAL
 * after a crash.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_NONE, K_DB, K_WAL, K_JOURNAL, K_DIR, K_CONN };
enum op {
	OP_WRITE = 1, OP_TRUNCATE, OP_SYNC, OP_UNLINK, OP_CREATE, OP_UNSUPPORTED,
	OP_SYNC_DONE, OP_ACCEPT, OP_CONN_READ, OP_CONN_WRITE
};

struct record {
	uint32_t magic;		/* "PLR2", to find a torn log */
	uint32_t pid;
	uint32_t tid;		/* pairs a sync's end with its start */
	int32_t fd;		/* tells one connection from another */
	uint8_t op;
	uint8_t kind;
	uint16_t pad;
	uint32_t len;		/* bytes of data that follow */
	uint64_t offset;	/* write offset, new size, or a sync's errno (0: done) */
} __attribute__((packed));

#define RECORD_MAGIC 0x32524c50u
#define MAX_FDS 4096
#define FCGI_LISTEN_FD 0	/* FCGI_LISTENSOCK_FILENO: where FastCGI hands the socket */

static char db_path[PATH_MAX], dir_path[PATH_MAX], log_path[PATH_MAX];
static int log_fd = -1;
static unsigned char fd_kind[MAX_FDS];

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
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
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static void resolve_all(void)
{
	RESOLVE(write); RESOLVE(read); RESOLVE(pwrite); RESOLVE(pwrite64);
	RESOLVE(writev); RESOLVE(pwritev); RESOLVE(readv); RESOLVE(send);
	RESOLVE(recv); RESOLVE(fsync); RESOLVE(fdatasync);
	RESOLVE(sync_file_range); RESOLVE(ftruncate); RESOLVE(ftruncate64);
	RESOLVE(open); RESOLVE(open64); RESOLVE(openat); RESOLVE(openat64);
	RESOLVE(close); RESOLVE(unlink); RESOLVE(accept); RESOLVE(accept4);
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

/* One write(2) per record (kind: the file's, fd -1 for none); a failure aborts: a silent gap would lie. */
static void log_record(enum op op, enum kind kind, int fd, uint64_t offset,
		       const void *data, size_t len)
{
	struct record r = { RECORD_MAGIC, (uint32_t)getpid(), (uint32_t)gettid(),
			    (int32_t)fd, (uint8_t)op, (uint8_t)kind, 0, (uint32_t)len,
			    offset };
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

/* A record of what was done on fd, with the kind of file fd is. */
static void log_fd_record(enum op op, int fd, uint64_t offset, const void *data, size_t len)
{
	log_record(op, fd_kind_of(fd), fd, offset, data, len);
}

/* A call the model does not cover, on a descriptor it watches. */
static void note_unsupported(int fd, uint64_t detail)
{
	if (fd_kind_of(fd) != K_NONE)
		log_fd_record(OP_UNSUPPORTED, fd, detail, NULL, 0);
}

static void note_open(const char *path, int flags, int fd)
{
	enum kind k = path_kind(path);

	if (fd < 0 || fd >= MAX_FDS)
		return;
	fd_kind[fd] = (unsigned char)k;
	if (k != K_NONE && k != K_DIR && (flags & O_CREAT))
		log_fd_record(OP_CREATE, fd, 0, NULL, 0);
	if (flags & (O_SYNC | O_DSYNC | O_TRUNC))
		note_unsupported(fd, (uint64_t)flags);
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

/* A connection accepted on FastCGI's listening socket: watched until closed. */
static void note_accept(int listen_fd, int fd)
{
	if (log_fd < 0 || listen_fd != FCGI_LISTEN_FD || fd < 0 || fd >= MAX_FDS)
		return;
	fd_kind[fd] = K_CONN;
	log_fd_record(OP_ACCEPT, fd, 0, NULL, 0);
}

int accept(int listen_fd, struct sockaddr *addr, socklen_t *addrlen)
{
	int fd;

	ENSURE(accept);
	fd = real_accept(listen_fd, addr, addrlen);
	note_accept(listen_fd, fd);
	return fd;
}

int accept4(int listen_fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	int fd;

	ENSURE(accept4);
	fd = real_accept4(listen_fd, addr, addrlen, flags);
	note_accept(listen_fd, fd);
	return fd;
}

static void note_write(int fd, off_t offset, const void *buf, ssize_t n)
{
	enum kind k = fd_kind_of(fd);

	if (k != K_NONE && k != K_CONN && n > 0)
		log_fd_record(OP_WRITE, fd, (uint64_t)offset, buf, (size_t)n);
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

/*
 * write() at the file position (SQLite does not use it on these files),
 * or an answer on a connection: logged before it leaves.  (A short write
 * would log its rest twice; libfcgi writes each answer whole, in one call,
 * on its blocking socket.)
 */
ssize_t write(int fd, const void *buf, size_t count)
{
	enum kind k = fd_kind_of(fd);
	off_t pos = (k != K_NONE && k != K_CONN) ? lseek(fd, 0, SEEK_CUR) : 0;
	ssize_t n;

	ENSURE(write);
	if (k == K_CONN)
		log_fd_record(OP_CONN_WRITE, fd, 0, buf, count);
	n = real_write(fd, buf, count);
	note_write(fd, pos, buf, n);
	return n;
}

/* A request's bytes, as the worker reads them. */
ssize_t read(int fd, void *buf, size_t count)
{
	ssize_t n;

	ENSURE(read);
	n = real_read(fd, buf, count);
	if (fd_kind_of(fd) == K_CONN && n > 0)
		log_fd_record(OP_CONN_READ, fd, 0, buf, (size_t)n);
	return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ENSURE(writev);
	note_unsupported(fd, 0);
	return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t offset)
{
	ENSURE(pwritev);
	note_unsupported(fd, 0);
	return real_pwritev(fd, iov, cnt, offset);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ENSURE(readv);
	if (fd_kind_of(fd) == K_CONN)
		note_unsupported(fd, 0);
	return real_readv(fd, iov, cnt);
}

ssize_t send(int fd, const void *buf, size_t count, int flags)
{
	ENSURE(send);
	note_unsupported(fd, 0);
	return real_send(fd, buf, count, flags);
}

ssize_t recv(int fd, void *buf, size_t count, int flags)
{
	ENSURE(recv);
	if (fd_kind_of(fd) == K_CONN)
		note_unsupported(fd, 0);
	return real_recv(fd, buf, count, flags);
}

/* Both ends of a sync: on the disk only once it has returned 0. */
static int logged_sync(int fd, int (*real_sync)(int))
{
	bool watched = fd_kind_of(fd) != K_NONE && fd_kind_of(fd) != K_CONN;
	int rc;

	if (watched)
		log_fd_record(OP_SYNC, fd, 0, NULL, 0);
	rc = real_sync(fd);
	if (watched)
		log_fd_record(OP_SYNC_DONE, fd, rc == 0 ? 0 : (uint64_t)errno, NULL, 0);
	return rc;
}

int fsync(int fd)
{
	ENSURE(fsync);
	return logged_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
	ENSURE(fdatasync);
	return logged_sync(fd, real_fdatasync);
}

/* Not a durability barrier (no metadata, no disk cache flush): recorded as unsupported. */
int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	ENSURE(sync_file_range);
	note_unsupported(fd, 0);
	return real_sync_file_range(fd, offset, nbytes, flags);
}

static void note_truncate(int fd, off_t length, int rc)
{
	enum kind k = fd_kind_of(fd);

	if (k != K_NONE && k != K_CONN && rc == 0)
		log_fd_record(OP_TRUNCATE, fd, (uint64_t)length, NULL, 0);
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
		log_record(OP_UNLINK, k, -1, 0, NULL, 0);
	return rc;
}
