#include "db_sqlite_conn.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_sqlite_marker.h"
#include "log.h"

/*
 * Which file a worker serves, and what it does when the file at DB_PATH
 * is no longer that one (replaced by `mv copy db.sqlite3`, moved away,
 * deleted).  The files it reads and leaves on disk for that (the marker,
 * the old -wal and -shm) are db_sqlite_marker.c's.
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

/* True while DB_PATH-wal or -shm is still the served file's. */
static bool old_sides_at_path(const char *db_path)
{
	return sq_same_file_id(sq_side_file(db_path, CONFIG_WAL_SUFFIX), served.wal) ||
	       sq_same_file_id(sq_side_file(db_path, CONFIG_SHM_SUFFIX), served.shm);
}

/*
 * The old file is gone whole (or another worker saw it replaced and took
 * its -wal and -shm off the path): the next file at DB_PATH is a new
 * start, once no marker stops it.
 */
static void forget_served(const char *db_path)
{
	if (sq_marker_exists(db_path))
		log_warn("%s: another worker saw the database replaced (DB_PATH"
			 MARKER_SUFFIX " is there): serving nothing until the pool"
			 " restarts", db_path);
	else
		log_info("%s: the database this worker served is gone with its -wal and"
			 " -shm: the next file at this path is served as a new one", db_path);
	served.known = false;
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
	if (sq_write_marker(db_path, served.dev, served.ino, now) &&
	    (served.wal.present || served.shm.present))
		sq_detach_old_sides(db_path, served.wal, served.shm);
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
		if (served.known && !sq_any_side_at_path(db_path))
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
	    !sq_marker_exists(cfg->db_path))
		return 0;
	snprintf(msg, msglen, "%s", fix_msg);
	return -1;
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
	sq_marker_path(cfg->db_path, marker, sizeof(marker));
	if (access(marker, F_OK) != 0)
		return 0;
	return sq_clear_replaced(cfg, marker, err, errlen);
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
		served.wal = sq_side_file(cfg->db_path, CONFIG_WAL_SUFFIX);
		served.shm = sq_side_file(cfg->db_path, CONFIG_SHM_SUFFIX);
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
