#include "db_sqlite_marker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/*
 * What a replaced database file leaves on disk, and what is done with it
 * (why: db_sqlite_file.c): the identity of DB_PATH-wal and -shm, the
 * marker DB_PATH-replaced, the old -wal and -shm taken off the path, and
 * at the next pool start the marker cleared.  Plain files only: no
 * connection, no state of its own.
 */

/* The identity of the file at db_path + suffix, absent when there is none. */
struct file_id sq_side_file(const char *db_path, const char *suffix)
{
	char path[CONFIG_PATH_MAX + 8];
	struct file_id id = { 0 };
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", db_path, suffix);
	if (stat(path, &st) == 0)
		id = (struct file_id){ .present = true, .dev = st.st_dev, .ino = st.st_ino };
	return id;
}

bool sq_same_file_id(struct file_id a, struct file_id b)
{
	return a.present && b.present && a.dev == b.dev && a.ino == b.ino;
}

bool sq_any_side_at_path(const char *db_path)
{
	return sq_side_file(db_path, CONFIG_WAL_SUFFIX).present ||
	       sq_side_file(db_path, CONFIG_SHM_SUFFIX).present;
}

void sq_marker_path(const char *db_path, char *out, size_t len)
{
	snprintf(out, len, "%s" MARKER_SUFFIX, db_path);
}

bool sq_marker_exists(const char *db_path)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)];

	sq_marker_path(db_path, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/* Writes text to fd, then closes it; a failure is logged (best effort). */
static void write_and_close(int fd, const char *path, const char *text, size_t n)
{
	ssize_t wrote = write(fd, text, n);

	/* A short count (a full disk) sets no errno. */
	if (wrote != (ssize_t)n)
		log_warn("%s: %s: %s", __func__, path,
			 wrote < 0 ? strerror(errno) : "short write");
	if (close(fd) != 0)
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
}

/*
 * Best effort: the sticky flag protects this process without it.  Returns
 * false when the marker was there already (another worker saw the
 * replacement first, and takes the old side files off the path).
 */
bool sq_write_marker(const char *db_path, dev_t served_dev, ino_t served_ino,
		     const struct stat *now)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)], text[256];
	int fd, n;

	sq_marker_path(db_path, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return false;
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return true;
	}
	n = snprintf(text, sizeof(text), "served inode %lu on device %lu;"
		     " replaced by inode %lu on device %lu\n",
		     (unsigned long)served_ino, (unsigned long)served_dev,
		     (unsigned long)now->st_ino, (unsigned long)now->st_dev);
	write_and_close(fd, path, text, (size_t)n);
	return true;
}

/* Appends line to the marker, for the next pool start to read. */
static void note_in_marker(const char *db_path, const char *line)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)];
	int fd;

	sq_marker_path(db_path, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
	else
		write_and_close(fd, path, line, strlen(line));
}

/*
 * Unlinks DB_PATH + suffix when it is still old, the served file's.  0
 * when it is not at the path (any more), -1 when it stays.
 */
static int detach_side(const char *db_path, const char *suffix, struct file_id old)
{
	char path[CONFIG_PATH_MAX + 8];

	if (!sq_same_file_id(sq_side_file(db_path, suffix), old))
		return 0;
	snprintf(path, sizeof(path), "%s%s", db_path, suffix);
	if (unlink(path) != 0 && errno != ENOENT) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	log_info("removed %s from the path: it belonged to the replaced database file"
		 " (the workers that have it open keep it until they close it)", path);
	return 0;
}

#define DETACHED_NOTE "detached: the replaced file's -wal and -shm are off the path\n"

/*
 * Takes the replaced file's -wal and -shm off DB_PATH (unlinked: the
 * workers that have them open keep them, by descriptor), so that whatever
 * opens DB_PATH next (an operator's sqlite3, a backup tool, Litestream, a
 * restore) starts the new file with a WAL and a WAL index of its own: the
 * old WAL's frames are never replayed into it, and the old index's page
 * count never makes it look corrupt.  No other worker pairs them with the
 * new file either: each remembers its file, and the marker is there.
 * Recorded in the marker, so that the next start leaves the -wal and -shm
 * it finds alone: they are the new file's.
 */
void sq_detach_old_sides(const char *db_path, struct file_id wal, struct file_id shm)
{
	if (detach_side(db_path, CONFIG_WAL_SUFFIX, wal) == 0 &&
	    detach_side(db_path, CONFIG_SHM_SUFFIX, shm) == 0)
		note_in_marker(db_path, DETACHED_NOTE);
}

/*
 * The byte of DB_PATH-shm every connection in WAL mode holds a read lock
 * on while it is open (the "dead man switch" of SQLite's unix VFS:
 * (22 + SQLITE_SHM_NLOCK) * 4 + SQLITE_SHM_NLOCK).
 */
#define SHM_DMS_OFFSET 128

/* 1 when a process has the WAL index open, 0 when none, -1 on error. */
static int shm_in_use(const char *shm)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = SHM_DMS_OFFSET, .l_len = 1 };
	int fd = open(shm, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ret = fcntl(fd, F_GETLK, &fl) != 0 ? -1 : fl.l_type != F_UNLCK;
	(void)close(fd);	/* read-only, nothing to flush */
	return ret;
}

static int remove_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	log_info("removed %s (%lld bytes): it belonged to the replaced database file",
		 path, (long long)st.st_size);
	return 0;
}

/*
 * True when the worker that wrote the marker took the replaced file's -wal
 * and -shm off the path: the ones there now are the new file's.
 */
static bool marker_says_detached(const char *marker)
{
	char text[512];
	ssize_t n;
	int fd = open(marker, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	(void)close(fd);	/* read-only, nothing to flush */
	if (n < 0)
		return false;
	text[n] = '\0';
	return strstr(text, DETACHED_NOTE) != NULL;
}

/*
 * At the start of a pool (migrate) after a replacement.  When the worker
 * that saw it could not take the old -wal and -shm off the path, those at
 * DB_PATH are the replaced file's and must not be paired with the file
 * now there: removed once no connection has them open.  Otherwise the
 * -wal and -shm at the path (if any) are the new file's, and stay.
 */
int sq_clear_replaced(const struct config *cfg, const char *marker, char *err,
		      size_t errlen)
{
	char wal[CONFIG_PATH_MAX + 8], shm[CONFIG_PATH_MAX + 8];
	int in_use;

	if (marker_says_detached(marker))
		goto done;
	snprintf(wal, sizeof(wal), "%s" CONFIG_WAL_SUFFIX, cfg->db_path);
	snprintf(shm, sizeof(shm), "%s" CONFIG_SHM_SUFFIX, cfg->db_path);
	if ((in_use = shm_in_use(shm)) != 0) {
		snprintf(err, errlen, "%s was replaced under a running pool%s: stop"
			 " every worker of that pool, then start again", cfg->db_path,
			 in_use > 0 ? " whose workers still have its WAL open"
				    : " and its WAL index cannot be checked");
		return -1;
	}
	if (remove_file(wal, err, errlen) != 0 || remove_file(shm, err, errlen) != 0)
		return -1;
done:
	if (unlink(marker) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", marker, strerror(errno));
		return -1;
	}
	log_info("%s: serving the file that replaced the old one", cfg->db_path);
	return 0;
}
