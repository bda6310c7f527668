#include "db_sqlite_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*
 * Which file a worker serves, and what it does when the file at DB_PATH
 * is no longer that one (replaced by `mv copy db.sqlite3`, moved away,
 * deleted).
 *
 * Why a replaced file cannot simply be reopened: the -wal and -shm files
 * are found by name (DB_PATH-wal, DB_PATH-shm), and nothing in them names
 * the database they belong to (the WAL header holds a page size, a
 * checkpoint sequence and salts, no file identity).  While any worker
 * still has the old file open, its WAL at DB_PATH-wal holds the old
 * file's commits.  A connection opened on the new file uses that same WAL
 * and wal-index: it reads the old file's pages out of the WAL on top of
 * the new file (mixed data), writes its commits into a WAL whose frames
 * the old file's connections checkpoint into the old, unlinked inode, and
 * when the last old connection closes it checkpoints into the old inode
 * and deletes the WAL the new connections still write to.  SQLite cannot
 * tell (SQLITE_FCNTL_HAS_MOVED does see the rename: it compares the
 * inode at the path with the open one, but the reopen it calls for is
 * what pairs the files).
 *
 * So a worker remembers the file it first served (device and inode), and
 * the -wal and -shm its connection uses.  When another file takes its
 * place while the old file's -wal or -shm is still at DB_PATH-wal or -shm
 * (`mv copy db.sqlite3` under a running pool), it stops serving for good
 * and answers 503 with the fix.  It leaves a marker, DB_PATH-replaced, so
 * that a worker multiwatch restarts meanwhile does not open the new file
 * either; the worker that created the marker then unlinks the old -wal and
 * -shm from the path.  The workers that have them open keep them, by
 * descriptor, and stay paired with the old file only; whatever opens
 * DB_PATH next (an operator's sqlite3, a backup tool, Litestream) creates
 * a WAL and a WAL index of its own for the new file.  Left at the path
 * until a restart, the old WAL would be replayed into the new file by the
 * next opener, and the old WAL index, shared with the idle workers, would
 * hand it the old file's frames and page count (a larger new file then
 * looks corrupt).
 *
 * SQLite does not checkpoint into a moved file when its last connection
 * closes (databaseIsUnmoved in pager.c), so the worker that saw the
 * replacement checkpoints the old WAL into the old inode itself before
 * closing (sq_file_before_close): a file moved away, then replaced, keeps
 * its last commits.  The next pool start (migrate) sees the marker and
 * removes it; when the marker does not say that the old -wal and -shm were
 * taken off the path, it first checks that no process has the WAL index
 * at the path open and removes the -wal and -shm there.
 *
 * A database gone whole is another case: no file at DB_PATH and no -wal or
 * -shm of the old one at their names (deleted or moved away together).
 * Nothing of the old file can be paired with a new one, so the worker
 * forgets the file it served and serves the next file at DB_PATH (a
 * migrate, a restore by hand) as a new start.  While a connection holds
 * the old -wal and -shm open their inode numbers cannot go to new files;
 * once nothing holds them they can, and a new -wal that got the old one's
 * number makes the new file look replaced: refused until a restart, the
 * safe side.
 */

#define MARKER_SUFFIX CONFIG_REPLACED_SUFFIX

static const char fix_msg[] =
	"the database file was replaced under the running pool: restart the pool"
	" to serve the new file (the replaced file's DB_PATH-wal and DB_PATH-shm"
	" are never paired with it); to restore while serving, use"
	" 'sqlite-fcgi restore'";

/*
 * The file this process serves: the first one it opened at DB_PATH.  A
 * worker has one DB_PATH; a process that opens another path (the unit
 * tests) starts afresh for it.
 */
struct file_id {
	bool present;
	dev_t dev;
	ino_t ino;
};

static struct {
	char path[CONFIG_PATH_MAX];
	bool known;
	bool replaced;		/* sticky: another file took its place */
	dev_t dev;
	ino_t ino;
	struct file_id wal, shm;	/* as they were when the file was adopted */
} served;

static void served_follow(const char *db_path)
{
	if (strcmp(served.path, db_path) == 0)
		return;
	memset(&served, 0, sizeof(served));
	snprintf(served.path, sizeof(served.path), "%s", db_path);
}

/* The identity of the file at db_path + suffix, absent when there is none. */
static struct file_id side_file(const char *db_path, const char *suffix)
{
	char path[CONFIG_PATH_MAX + 8];
	struct file_id id = { 0 };
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", db_path, suffix);
	if (stat(path, &st) == 0)
		id = (struct file_id){ .present = true, .dev = st.st_dev, .ino = st.st_ino };
	return id;
}

static bool same_file_id(struct file_id a, struct file_id b)
{
	return a.present && b.present && a.dev == b.dev && a.ino == b.ino;
}

/* True while DB_PATH-wal or -shm is still the served file's. */
static bool old_sides_at_path(const char *db_path)
{
	return same_file_id(side_file(db_path, CONFIG_WAL_SUFFIX), served.wal) ||
	       same_file_id(side_file(db_path, CONFIG_SHM_SUFFIX), served.shm);
}

static bool any_side_at_path(const char *db_path)
{
	return side_file(db_path, CONFIG_WAL_SUFFIX).present ||
	       side_file(db_path, CONFIG_SHM_SUFFIX).present;
}

static void marker_path(const char *db_path, char *out, size_t len)
{
	snprintf(out, len, "%s" MARKER_SUFFIX, db_path);
}

static bool marker_exists(const char *db_path)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)];

	marker_path(db_path, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/*
 * The old file is gone whole (or another worker saw it replaced and took
 * its -wal and -shm off the path): the next file at DB_PATH is a new
 * start, once no marker stops it.
 */
static void forget_served(const char *db_path)
{
	if (marker_exists(db_path))
		log_warn("%s: another worker saw the database replaced (DB_PATH"
			 MARKER_SUFFIX " is there): serving nothing until the pool"
			 " restarts", db_path);
	else
		log_info("%s: the database this worker served is gone with its -wal and"
			 " -shm: the next file at this path is served as a new one", db_path);
	served.known = false;
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
static bool write_marker(const char *db_path, const struct stat *now)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)], text[256];
	int fd, n;

	marker_path(db_path, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return false;
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return true;
	}
	n = snprintf(text, sizeof(text), "served inode %lu on device %lu;"
		     " replaced by inode %lu on device %lu\n",
		     (unsigned long)served.ino, (unsigned long)served.dev,
		     (unsigned long)now->st_ino, (unsigned long)now->st_dev);
	write_and_close(fd, path, text, (size_t)n);
	return true;
}

/* Appends line to the marker, for the next pool start to read. */
static void note_in_marker(const char *db_path, const char *line)
{
	char path[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)];
	int fd;

	marker_path(db_path, path, sizeof(path));
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

	if (!same_file_id(side_file(db_path, suffix), old))
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
static void detach_old_sides(const char *db_path)
{
	if (detach_side(db_path, CONFIG_WAL_SUFFIX, served.wal) == 0 &&
	    detach_side(db_path, CONFIG_SHM_SUFFIX, served.shm) == 0)
		note_in_marker(db_path, DETACHED_NOTE);
}

static void mark_replaced(const char *db_path, const struct stat *now)
{
	if (!served.replaced)
		log_warn("%s: another file (inode %lu) took the place of the one"
			 " this worker served (inode %lu): serving nothing until"
			 " the pool restarts", db_path, (unsigned long)now->st_ino,
			 (unsigned long)served.ino);
	served.replaced = true;
	/* The marker first: a worker multiwatch restarts must not open the path. */
	if (write_marker(db_path, now) && (served.wal.present || served.shm.present))
		detach_old_sides(db_path);
}

/*
 * Compares the file at db_path with the one served.  Returns 1 when it is
 * another file and the old one's -wal or -shm is still there to be paired
 * with it (replaced: recorded), 0 when it is the same one or none is known
 * yet, -1 when there is no file at db_path or the old one is gone whole
 * (then forgotten: the caller closes and the next open starts afresh).
 */
static int compare_with_served(const char *db_path)
{
	struct stat now;

	served_follow(db_path);
	if (stat(db_path, &now) != 0) {
		if (served.known && !any_side_at_path(db_path))
			forget_served(db_path);
		return -1;
	}
	if (!served.known || (now.st_dev == served.dev && now.st_ino == served.ino))
		return 0;
	if ((served.wal.present || served.shm.present) && !old_sides_at_path(db_path)) {
		forget_served(db_path);
		return -1;
	}
	mark_replaced(db_path, &now);
	return 1;
}

static int refusal(const struct config *cfg, char *msg, size_t msglen)
{
	served_follow(cfg->db_path);
	if (!served.replaced && compare_with_served(cfg->db_path) != 1 &&
	    !marker_exists(cfg->db_path))
		return 0;
	snprintf(msg, msglen, "%s", fix_msg);
	return -1;
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
static int clear_replaced(const struct config *cfg, const char *marker, char *err,
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

static int file_before_open(const struct config *cfg, enum db_open_mode mode,
			    char *err, size_t errlen)
{
	char marker[CONFIG_PATH_MAX + sizeof(MARKER_SUFFIX)];

	if (mode == DB_OPEN_SERVE) {
		if (refusal(cfg, err, errlen) == 0)
			return 0;
		/* The message is the client's: name the file here for the log. */
		snprintf(err, errlen, "%s: %s", cfg->db_path, fix_msg);
		return -1;
	}
	marker_path(cfg->db_path, marker, sizeof(marker));
	if (access(marker, F_OK) != 0)
		return 0;
	return clear_replaced(cfg, marker, err, errlen);
}

/*
 * A connection refused at its open may have the replaced file's WAL open
 * beside the new file: its close must not checkpoint that WAL into it.
 */
static void never_checkpoint_on_close(struct db_sqlite *s)
{
	if (sqlite3_db_config(s->conn, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
		log_warn("%s: SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE: %s", s->db_path,
			 sqlite3_errmsg(s->conn));
}

static enum db_result file_check(struct db_sqlite *s);

static int file_adopt(struct db_sqlite *s, const struct config *cfg, char *err,
		      size_t errlen)
{
	struct stat now;

	served_follow(cfg->db_path);
	/* The stat and the open can race a rename: HAS_MOVED then says so. */
	if (stat(cfg->db_path, &now) != 0 || file_check(s) != DB_OK) {
		never_checkpoint_on_close(s);
		snprintf(err, errlen, "%s: the file moved while it was opened", cfg->db_path);
		return -1;
	}
	if (!served.known || (now.st_dev == served.dev && now.st_ino == served.ino)) {
		served.known = true;
		served.dev = now.st_dev;
		served.ino = now.st_ino;
		/*
		 * The -wal and -shm this connection uses (the open's first read
		 * opened or created them; none in rollback mode): after every
		 * connection of the pool closed, they are new files.
		 */
		served.wal = side_file(cfg->db_path, CONFIG_WAL_SUFFIX);
		served.shm = side_file(cfg->db_path, CONFIG_SHM_SUFFIX);
	}
	if (compare_with_served(cfg->db_path) != 0) {
		never_checkpoint_on_close(s);
		snprintf(err, errlen, "%s: %s", cfg->db_path, fix_msg);
		return -1;
	}
	return 0;
}

static void file_before_close(struct db_sqlite *s)
{
	int has_moved = 0, rc;

	if (s->conn == NULL || !served.replaced || strcmp(served.path, s->db_path) != 0 ||
	    sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_HAS_MOVED, &has_moved) !=
		    SQLITE_OK || !has_moved)
		return;
	rc = sqlite3_wal_checkpoint_v2(s->conn, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc == SQLITE_OK)
		log_info("%s: the replaced file's WAL is checkpointed into it (inode %lu)",
			 s->db_path, (unsigned long)served.ino);
	else
		log_warn("%s: checkpointing the replaced file's WAL into it: %s (%s)",
			 s->db_path, sqlite3_errmsg(s->conn), db_sqlite_code_name(rc));
}

static enum db_result file_check(struct db_sqlite *s)
{
	int moved = 0, has_moved = 0, rc;

	served_follow(s->db_path);
	if (served.known) {
		int cmp = compare_with_served(s->db_path);

		if (cmp == 1)
			return db_fail_with(&s->base, DB_ERR, SQLITE_READONLY_DBMOVED,
					    db_sqlite_code_name(SQLITE_READONLY_DBMOVED),
					    "%s", fix_msg);
		moved = cmp == -1;
	}
	/* Also SQLite's own look: the inode at the path against the open one. */
	rc = sqlite3_file_control(s->conn, "main", SQLITE_FCNTL_HAS_MOVED, &has_moved);
	if (!moved && rc != SQLITE_OK)
		return sq_fail(s, rc);
	if (moved || has_moved)
		return db_fail_with(&s->base, DB_ERR, SQLITE_READONLY_DBMOVED,
				    db_sqlite_code_name(SQLITE_READONLY_DBMOVED),
				    "the database file was moved or deleted");
	return DB_OK;
}

/*
 * served is the process's, and its serving threads (each with its own
 * connection) check and update it: one at a time, under this lock, which
 * every entry point below holds.  pthread_mutex_lock and _unlock of a
 * default mutex cannot fail when used this way: not checked.
 */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;

int sq_refusal(const struct config *cfg, char *msg, size_t msglen)
{
	int ret;

	(void)pthread_mutex_lock(&served_lock);
	ret = refusal(cfg, msg, msglen);
	(void)pthread_mutex_unlock(&served_lock);
	return ret;
}

int sq_file_before_open(const struct config *cfg, enum db_open_mode mode,
			char *err, size_t errlen)
{
	int ret;

	(void)pthread_mutex_lock(&served_lock);
	ret = file_before_open(cfg, mode, err, errlen);
	(void)pthread_mutex_unlock(&served_lock);
	return ret;
}

int sq_file_adopt(struct db_sqlite *s, const struct config *cfg, char *err,
		  size_t errlen)
{
	int ret;

	(void)pthread_mutex_lock(&served_lock);
	ret = file_adopt(s, cfg, err, errlen);
	(void)pthread_mutex_unlock(&served_lock);
	return ret;
}

void sq_file_before_close(struct db_sqlite *s)
{
	(void)pthread_mutex_lock(&served_lock);
	file_before_close(s);
	(void)pthread_mutex_unlock(&served_lock);
}

enum db_result sq_file_check(struct db_sqlite *s)
{
	enum db_result ret;

	(void)pthread_mutex_lock(&served_lock);
	ret = file_check(s);
	(void)pthread_mutex_unlock(&served_lock);
	return ret;
}
