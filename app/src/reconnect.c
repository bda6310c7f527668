#include "reconnect.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "monotonic.h"

/*
 * The process's connections, counted: how many are open, and how many of
 * them were opened before the last request to close them all.  The lock
 * is a static default mutex, taken and let go by one thread around a few
 * counters: neither call can fail, and they are not checked.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t old_ones_closed = PTHREAD_COND_INITIALIZER;
static unsigned generation = 1;
static long open_count, old_count;
static int notify_fd = -1;

void reconnect_notify_on(int fd)
{
	(void)pthread_mutex_lock(&lock);
	notify_fd = fd;
	(void)pthread_mutex_unlock(&lock);
}

static enum db_result open_counted(const struct config *cfg, uint64_t start_ns,
				   struct db **db, unsigned *gen, char *err, size_t errlen)
{
	enum db_result res = db_open_at(cfg, DB_OPEN_SERVE, start_ns, db, err, errlen);

	if (res != DB_OK)
		return res;
	(void)pthread_mutex_lock(&lock);
	open_count++;
	*gen = generation;
	(void)pthread_mutex_unlock(&lock);
	return DB_OK;
}

enum db_result reconnect_open(const struct config *cfg, struct db **db, unsigned *gen,
			      char *err, size_t errlen)
{
	return open_counted(cfg, 0, db, gen, err, errlen);
}

void reconnect_close(struct db **db, unsigned *gen)
{
	if (*db == NULL)
		return;
	db_close(*db);
	*db = NULL;
	(void)pthread_mutex_lock(&lock);
	open_count--;
	if (*gen != generation && --old_count == 0)
		(void)pthread_cond_broadcast(&old_ones_closed);
	(void)pthread_mutex_unlock(&lock);
}

bool reconnect_drop_stale(struct db **db, unsigned *gen)
{
	bool stale;

	if (*db == NULL)
		return false;
	(void)pthread_mutex_lock(&lock);
	stale = *gen != generation;
	(void)pthread_mutex_unlock(&lock);
	if (stale)
		reconnect_close(db, gen);
	return stale;
}

/*
 * Whether an old connection of the process is still open after waiting up
 * to OLD_CLOSE_WAIT_MS for them: an idle thread closes its own as soon as
 * it is woken, one serving a request at its end.  The wait is on the
 * realtime clock (the default condition's); a clock step only shortens or
 * lengthens it once.
 */
#define OLD_CLOSE_WAIT_MS 200
static bool old_ones_open(void)
{
	struct timespec until;
	long n;

	if (clock_gettime(CLOCK_REALTIME, &until) != 0)
		return true;
	until.tv_nsec += OLD_CLOSE_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	(void)pthread_mutex_lock(&lock);
	while (old_count > 0 && pthread_cond_timedwait(&old_ones_closed, &lock, &until) == 0)
		;
	n = old_count;
	(void)pthread_mutex_unlock(&lock);
	return n > 0;
}

/*
 * PostgreSQL: a connect that fails may wait connect_timeout for each host
 * of DATABASE_URL (a partition answers nothing).  Once one has failed that
 * slowly, one connection of the process connects at a time, and none for
 * OPEN_RETRY_MS after each failure: the other requests answer 503 at once
 * rather than each waiting as long, so that a host cut off from the
 * database answers fast and no queue builds behind its threads.  A connect
 * refused at once (the server restarting) is no reason to wait: every
 * connection tries again on its next request, as SQLite's opens do.
 */
#define OPEN_RETRY_MS 1000
static _Atomic uint64_t slow_failure_ns;	/* the last connect timed out then; 0: it did not */
static atomic_bool connecting;		/* a connection of the process is connecting */

/* Whether this connect must be the process's only one; DB_OK, or why not now. */
static enum db_result may_connect(bool *alone, char *err, size_t errlen)
{
	uint64_t failed = atomic_load_explicit(&slow_failure_ns, memory_order_relaxed);

	*alone = failed != 0;
	if (!*alone)
		return DB_OK;
	if (monotonic_ns() - failed < OPEN_RETRY_MS * 1000000ull) {
		snprintf(err, errlen, "the last connect timed out less than %d ms ago",
			 OPEN_RETRY_MS);
		return DB_ERR;
	}
	if (atomic_exchange(&connecting, true)) {
		snprintf(err, errlen, "another connection of this worker is connecting");
		return DB_BUSY;
	}
	return DB_OK;
}

static enum db_result open_unless_failed_lately(const struct config *cfg, uint64_t start_ns,
						struct db **db, unsigned *gen,
						char *err, size_t errlen)
{
	uint64_t start = monotonic_ns();
	enum db_result res;
	bool alone;

	if (cfg->engine != ENGINE_POSTGRES)
		return open_counted(cfg, start_ns, db, gen, err, errlen);
	if ((res = may_connect(&alone, err, errlen)) != DB_OK)
		return res;
	res = open_counted(cfg, start_ns, db, gen, err, errlen);
	if (alone)
		atomic_store(&connecting, false);
	/* DB_BUSY: not tried, for lack of time; that says nothing of the server. */
	if (res != DB_BUSY) {
		uint64_t now = monotonic_ns();
		bool slow = res != DB_OK && now - start >= OPEN_RETRY_MS * 1000000ull;

		atomic_store_explicit(&slow_failure_ns, slow ? now : 0, memory_order_relaxed);
	}
	return res;
}

/* Opens *db (NULL) again, unless now is no time to; a failure is logged. */
static void reopen(const struct config *cfg, struct db **db, unsigned *gen, uint64_t start_ns)
{
	static _Atomic time_t last_warning;
	char err[ERR_LEN];

	if (old_ones_open()) {
		snprintf(err, sizeof(err), "waiting for this worker's other connections to close");
	} else if (open_unless_failed_lately(cfg, start_ns, db, gen, err, sizeof(err)) == DB_OK) {
		log_info("database reopened");
		return;
	}
	if (log_due(&last_warning))
		log_warn("database unavailable: %s", err);
}

void reconnect_ensure(const struct config *cfg, struct db **db, unsigned *gen,
		      uint64_t start_ns)
{
	(void)reconnect_drop_stale(db, gen);
	if (*db == NULL)
		reopen(cfg, db, gen, start_ns);
	if (*db == NULL)
		return;
	/* The last request's failure is not this one's; the open, if any, counts against it. */
	db_clear_error(*db);
	db_deadline_from(*db, start_ns);
}

/*
 * Every open connection is old from now on.  The write to the eventfd
 * wakes each idle thread (edge-triggered in its epoll set); it fails only
 * when the counter would overflow, which it cannot in a worker's life.
 */
static void close_all_later(void)
{
	uint64_t one = 1;
	int fd;

	(void)pthread_mutex_lock(&lock);
	generation++;
	old_count = open_count;
	fd = notify_fd;
	(void)pthread_mutex_unlock(&lock);
	if (fd >= 0 && write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_warn("%s: eventfd: %s", __func__, strerror(errno));
}

bool reconnect_retire_read_only(struct db **db, unsigned *gen)
{
	static _Atomic time_t last_warning;

	if (*db == NULL || !db_opened_read_only(*db))
		return false;
	if (log_due(&last_warning))
		log_warn("closing this worker's connections: one opened read-only");
	close_all_later();
	reconnect_close(db, gen);
	return true;
}

/*
 * The order matters after an I/O error (db_sqlite.c, sq_needs_reopen): a
 * commit whose sync failed must not come back when the last connection to
 * the file closes.
 */
void reconnect_replace_broken(const struct config *cfg, struct db **db, unsigned *gen)
{
	struct db *fresh = NULL;
	unsigned fresh_gen = 0;
	enum db_reopen how;
	char err[ERR_LEN];

	if (*db == NULL || (how = db_needs_reopen(*db)) == DB_REOPEN_NO)
		return;
	log_warn("closing the database connection%s after: %s (%s, %d)",
		 how == DB_REOPEN_CLOSE_ALL ? " and this worker's others" : "",
		 db_errmsg(*db), db_errname(*db), db_errcode(*db));
	if (how == DB_REOPEN_CLOSE_ALL)
		close_all_later();
	if (how == DB_REOPEN_OPEN_FIRST &&
	    reconnect_open(cfg, &fresh, &fresh_gen, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	reconnect_close(db, gen);
	*db = fresh;
	*gen = fresh_gen;
	if (fresh != NULL)
		log_info("database reopened");
}
