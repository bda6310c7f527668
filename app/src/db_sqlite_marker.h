#ifndef SQLITE_FCGI_DB_SQLITE_MARKER_H
#define SQLITE_FCGI_DB_SQLITE_MARKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "config.h"

/*
 * What a replacement leaves on disk (db_sqlite_marker.c), for
 * db_sqlite_file.c, which decides when a file was replaced (and why the
 * -wal and -shm matter: see there).
 */

#define MARKER_SUFFIX CONFIG_REPLACED_SUFFIX

/* A file's identity: device and inode, or absent. */
struct file_id {
	bool present;
	dev_t dev;
	ino_t ino;
};

/* The identity of the file at db_path + suffix, absent when there is none. */
struct file_id sq_side_file(const char *db_path, const char *suffix);
/* Both present, and the same file. */
bool sq_same_file_id(struct file_id a, struct file_id b);
/* True when DB_PATH-wal or DB_PATH-shm is there, whoever's. */
bool sq_any_side_at_path(const char *db_path);

/* DB_PATH-replaced, into out (CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)). */
void sq_marker_path(const char *db_path, char *out, size_t len);
bool sq_marker_exists(const char *db_path);
/*
 * Creates the marker, naming the served file (served_dev, served_ino) and
 * the one now at the path.  Best effort: the caller's sticky flag protects
 * its process without it.  Returns false when the marker was there already
 * (another worker saw the replacement first, and takes the old side files
 * off the path).
 */
bool sq_write_marker(const char *db_path, dev_t served_dev, ino_t served_ino,
		     const struct stat *now);
/*
 * Unlinks DB_PATH-wal and -shm where they are still wal and shm (the
 * replaced file's), and when both are off the path says so in the marker.
 */
void sq_detach_old_sides(const char *db_path, struct file_id wal, struct file_id shm);
/*
 * At the start of a pool (migrate) when marker exists: removes the
 * replaced file's -wal and -shm unless the marker says they were taken
 * off the path already, then the marker.  0, or -1 with err (a worker of
 * the old pool still has the WAL index open).
 */
int sq_clear_replaced(const struct config *cfg, const char *marker, char *err,
		      size_t errlen);

#endif
