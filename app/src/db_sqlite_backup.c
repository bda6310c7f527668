#include "db_sqlite_backup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_sqlite_rc.h"
#include "monotonic.h"

/* Between two tries of a backup step that found the database locked. */
#define RETRY_SLEEP_MS 5

/*
 * Closes conn and returns ret, or -1 with err set when ret was 0 and the
 * close failed (statements left open: the connection stays open); an
 * earlier error in err is kept.
 */
static int close_conn(sqlite3 *conn, const char *path, int ret, char *err,
		      size_t errlen)
{
	if (sqlite3_close(conn) == SQLITE_OK)	/* NULL: a no-op */
		return ret;
	if (ret == 0)
		snprintf(err, errlen, "%s: close failed: %s", path, sqlite3_errmsg(conn));
	return -1;
}

static int open_conn(const char *path, int flags, sqlite3 **out, char *err,
		     size_t errlen)
{
	sqlite3 *conn = NULL;
	int rc = sqlite3_open_v2(path, &conn, flags, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_extended_result_codes(conn, 1);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
		/* sqlite3_open_v2 hands out a handle even on failure. */
		return close_conn(conn, path, -1, err, errlen);
	}
	*out = conn;
	return 0;
}

/* The first column of the first row of sql, as an integer. */
static int query_int(sqlite3 *conn, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sq_finalize(st);
	return rc == SQLITE_OK ? 0 : -1;
}

/* 0 when integrity_check says "ok"; else err gets its first complaint. */
static int check_integrity(sqlite3 *conn, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(conn, "PRAGMA integrity_check", -1, &st, NULL);
	int ok = 0;

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *first = (const char *)sqlite3_column_text(st, 0);

		ok = first != NULL && strcmp(first, "ok") == 0;
		if (!ok)
			snprintf(err, errlen, "%s: integrity_check: %s", path,
				 first ? first : "(null)");
	} else {
		snprintf(err, errlen, "%s: integrity_check failed: %s", path,
			 sqlite3_errmsg(conn));
	}
	sq_finalize(st);
	return ok ? 0 : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The milliseconds left until deadline (monotonic_ns), 0 once it passed. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = monotonic_ns();

	return now >= deadline ? 0 : (int)((deadline - now + 999999u) / 1000000u);
}

/*
 * Gives each connection's busy handler what is left of the wait, before a
 * step that may have to wait for a lock: one deadline bounds the whole
 * command, however many steps wait.  (Setting the timeout also restarts
 * the handler, which stays spent once it gave up.)
 */
static void wait_until(uint64_t deadline, sqlite3 *a, sqlite3 *b)
{
	int left = ms_left(deadline);

	/* It fails only for a handle that is not open: both are. */
	(void)sqlite3_busy_timeout(a, left);
	if (b != NULL)
		(void)sqlite3_busy_timeout(b, left);
}

static bool is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/*
 * Copies every page of src into dst in one step: one read snapshot of src,
 * one write transaction on dst.  A lock held by another connection is
 * waited for until deadline: in the busy handlers, and by trying again
 * where the backup returns SQLITE_BUSY or SQLITE_LOCKED without calling
 * them.
 */
static int copy_database(sqlite3 *dst, sqlite3 *src, uint64_t deadline, const char *what,
			 char *err, size_t errlen)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, left;

	if (b == NULL) {
		snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(dst));
		return -1;
	}
	do {
		wait_until(deadline, dst, src);
		rc = sqlite3_backup_step(b, -1);
		left = ms_left(deadline);
		if (is_busy(rc) && left > 0)
			sleep_ms(left < RETRY_SLEEP_MS ? left : RETRY_SLEEP_MS);
	} while (is_busy(rc) && left > 0);
	if (sqlite3_backup_finish(b) != SQLITE_OK || rc != SQLITE_DONE) {
		if (is_busy(rc))
			snprintf(err, errlen, "%s: still locked by another connection at the"
				 " end of the wait (%s): nothing was copied", what,
				 sqlite3_errstr(rc));
		else
			snprintf(err, errlen, "%s: %s (%s)", what, sqlite3_errmsg(dst),
				 sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* fsync of a file or directory by name. */
static int sync_path(const char *path, int flags, char *err, size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);	/* read-only; err has the fsync error */
		return -1;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "%s: close: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The directory that holds path (POSIX dirname, on a copy: it writes). */
static void dir_of(const char *path, char *dir, size_t len)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, len, "%s", dirname(copy));
}

/*
 * Creates tmp empty with the live file's mode, and its owner when run as
 * root: a copy must not be readable by more users than the database (a
 * umask of 022 would make SQLite's new file 0644).  SQLite then opens the
 * empty file as a new database, and its journal takes the same mode.
 */
static int create_like(const char *db_path, const char *tmp, char *err, size_t errlen)
{
	struct stat live;
	int fd;

	if (stat(db_path, &live) != 0) {
		snprintf(err, errlen, "%s: %s", db_path, strerror(errno));
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, live.st_mode & 07777) != 0 ||
	    (geteuid() == 0 && fchown(fd, live.st_uid, live.st_gid) != 0)) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			(void)close(fd);	/* empty: nothing to flush */
		return -1;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "%s: close: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* PRAGMA journal_mode = delete on conn: 0 once it reads back "delete". */
static int make_single_file(sqlite3 *conn, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char mode[16] = "";

	if (sqlite3_prepare_v2(conn, "PRAGMA journal_mode = delete", -1, &st, NULL) ==
		    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(mode, sizeof(mode), "%s", sqlite3_column_text(st, 0));
	sq_finalize(st);
	if (strcmp(mode, "delete") == 0)
		return 0;
	snprintf(err, errlen, "%s: journal_mode delete: %s", path, sqlite3_errmsg(conn));
	return -1;
}

/* The copy in tmp: a checked, self-contained file (no -wal beside it). */
static int write_copy(const char *db_path, const char *tmp, uint64_t deadline,
		      char *err, size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	int ret = -1;

	if (create_like(db_path, tmp, err, errlen) != 0 ||
	    open_conn(db_path, SQLITE_OPEN_READWRITE, &src, err, errlen) != 0 ||
	    open_conn(tmp, SQLITE_OPEN_READWRITE, &dst, err, errlen) != 0)
		goto out;
	/* The copy is this command's own file: only reading src waits. */
	if (copy_database(dst, src, deadline, db_path, err, errlen) != 0 ||
	    check_integrity(dst, tmp, err, errlen) != 0 ||
	    make_single_file(dst, tmp, err, errlen) != 0)
		goto out;
	ret = 0;
out:
	ret = close_conn(src, db_path, ret, err, errlen);
	return close_conn(dst, tmp, ret, err, errlen);
}

int sq_backup_to(const struct config *cfg, const char *dest, int wait_ms,
		 char *err, size_t errlen)
{
	const char *db_path = cfg->db_path;
	char tmp[PATH_MAX], tmp_journal[PATH_MAX + 16], dir[PATH_MAX];
	uint64_t deadline = monotonic_ns() + (uint64_t)wait_ms * 1000000u;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dest, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", dest);
		return -1;
	}
	snprintf(tmp_journal, sizeof(tmp_journal), "%s-journal", tmp);
	dir_of(dest, dir, sizeof(dir));
	(void)unlink(tmp);	/* a leftover of a crashed run with our pid */
	if (write_copy(db_path, tmp, deadline, err, errlen) != 0 ||
	    sync_path(tmp, O_RDONLY, err, errlen) != 0)
		goto fail;
	if (rename(tmp, dest) != 0) {
		snprintf(err, errlen, "rename %s to %s: %s", tmp, dest, strerror(errno));
		goto fail;
	}
	return sync_path(dir, O_RDONLY | O_DIRECTORY, err, errlen);
fail:
	(void)unlink(tmp);
	(void)unlink(tmp_journal);
	return -1;
}

/* src is a database of this service at the live file's schema version. */
static int check_source(sqlite3 *src, sqlite3 *live, const char *src_path,
			char *err, size_t errlen)
{
	int src_version = -1, live_version = -1, tables = 0;

	if (check_integrity(src, src_path, err, errlen) != 0)
		return -1;
	if (query_int(src, "PRAGMA user_version", &src_version) != 0 ||
	    query_int(live, "PRAGMA user_version", &live_version) != 0 ||
	    query_int(src, "SELECT count(*) FROM sqlite_schema"
			   " WHERE type = 'table' AND name = 'auth_user'", &tables) != 0) {
		snprintf(err, errlen, "%s: reading the schema failed: %s", src_path,
			 sqlite3_errmsg(src));
		return -1;
	}
	if (tables != 1 || src_version != live_version || src_version <= 0) {
		snprintf(err, errlen, "%s: not a database of this service at schema version %d"
			 " (it has version %d%s)", src_path, live_version, src_version,
			 tables == 1 ? "" : ", no auth_user table");
		return -1;
	}
	return 0;
}

int sq_restore_from(const struct config *cfg, const char *src_path, int wait_ms,
		    char *err, size_t errlen)
{
	const char *db_path = cfg->db_path;
	sqlite3 *src = NULL, *live = NULL;
	uint64_t deadline = monotonic_ns() + (uint64_t)wait_ms * 1000000u;
	int ret = -1;

	if (open_conn(src_path, SQLITE_OPEN_READONLY, &src, err, errlen) != 0 ||
	    open_conn(db_path, SQLITE_OPEN_READWRITE, &live, err, errlen) != 0)
		goto out;
	wait_until(deadline, src, live);
	if (check_source(src, live, src_path, err, errlen) != 0)
		goto out;
	/*
	 * One write transaction on the live file: a worker's reader sees the
	 * old content or the new, never a mix, and the backup bumps the schema
	 * cookie so that every worker re-reads the schema before its next
	 * statement.
	 */
	if (copy_database(live, src, deadline, db_path, err, errlen) != 0)
		goto out;
	wait_until(deadline, live, NULL);
	if (check_integrity(live, db_path, err, errlen) != 0) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, " (after the restore was committed)");
		goto out;
	}
	ret = 0;
out:
	ret = close_conn(src, src_path, ret, err, errlen);
	return close_conn(live, db_path, ret, err, errlen);
}
