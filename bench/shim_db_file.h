/*
 * For the LD_PRELOAD shims (bench/slow_sync.c, tests/faults/inject.c): is
 * a descriptor open on a database, its -wal or its -journal?  A header of
 * one static function, as each shim is built from its one source file.
 */
#ifndef SHIM_DB_FILE_H
#define SHIM_DB_FILE_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* fd is open on db (a resolved path, as /proc/self/fd names files), its
 * -wal or its -journal; errno is kept. */
static int shim_fd_is_db_file(int fd, const char *db)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	size_t len;
	int saved = errno;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	errno = saved;
	if (n < 0)
		return 0;
	path[n] = '\0';
	len = strlen(db);
	return strncmp(path, db, len) == 0 &&
	       (path[len] == '\0' || strcmp(path + len, "-wal") == 0 ||
		strcmp(path + len, "-journal") == 0);
}

#endif
