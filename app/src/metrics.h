#ifndef SQLITE_FCGI_METRICS_H
#define SQLITE_FCGI_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Counters and histograms shared by all workers, for GET /metrics in
 * Prometheus's text format.  They live in a small file mapped by every
 * worker (METRICS_PATH), one slot per worker: a worker claims a free slot
 * with an open-file-description lock on the slot's byte, writes only its
 * own slot (its serving threads add to it atomically), and a scrape sums
 * them all.  The kernel drops the lock of a
 * worker that dies, and its replacement takes the slot over and goes on
 * counting from where it stopped: nothing is lost or counted twice.
 *
 * Every function is a no-op until metrics_open succeeds, so code that
 * records metrics runs unchanged in tests without them.
 */


/* Room for the routes of routes.c (counted by their index there) plus "other". */
#define METRICS_MAX_ROUTES 16
enum metrics_histogram {
	HIST_CREATE_USER, HIST_LOCK_WAIT, HIST_HASH,
	HIST_COMMIT,		/* group commit: the time a shared COMMIT took */
	HIST_BATCH_SIZE,	/* group commit: the requests of a shared transaction */
	METRICS_NHISTS
};

/*
 * Maps the region at path and claims a slot.  The file is created 0600 when
 * missing and its blocks allocated (no SIGBUS on a full disk later); a
 * symlink, a file of another user and one that others may read or write
 * are refused.  Returns 0, or -1 with the path and the cause in err: the
 * worker then serves without metrics.
 */
int metrics_open(const char *path, char *err, size_t errlen);
void metrics_close(void);

/* Monotonic clock, in nanoseconds: what the observations below take. */
uint64_t metrics_now_ns(void);

/* route: an index below METRICS_MAX_ROUTES; status: any (http.c's table). */
void metrics_count_request(size_t route, int status);
/* One observation: nanoseconds, or for HIST_BATCH_SIZE a number of requests. */
void metrics_observe(enum metrics_histogram h, uint64_t value);
/* A busy/locked answer from the database, by its code's name (db_errname). */
void metrics_count_busy(const char *name);

/*
 * Writes every metric, summed over all slots, in Prometheus's text format
 * into out (outlen bytes).  route_names[i] labels route index i (nroutes of
 * them, at most METRICS_MAX_ROUTES).  wal_bytes is the WAL file's current
 * size (-1: none).  Returns the length, or -1 when out is too small.
 */
int metrics_render(char *out, size_t outlen, const char *const *route_names,
		   size_t nroutes, long long wal_bytes);

#endif
