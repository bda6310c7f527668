#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "http.h"
#include "monotonic.h"

#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37	/* Linux 3.15; glibc shows it only with _GNU_SOURCE */
#endif

#define METRICS_MAGIC 0x53464d36u	/* "SFM6": the layout below, version 6 (16 routes, 16 busy names, group commit) */
#define METRICS_SLOTS 256		/* WORKERS is at most 256 */
#define NSTATUSES (HTTP_NSTATUSES + 1)	/* the last counts any other status */
#define NBUCKETS 14
/* Room for every engine's busy names (db_busy_names). */
#define NBUSY 16

/* Upper bounds (the last bucket is +Inf): of times in seconds, and of batch sizes. */
static const double seconds[NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
static const double sizes[NBUCKETS] = { 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256 };
/* unit: what an observation is divided by (nanoseconds to seconds, or 1). */
static const struct {
	const char *name, *help;
	const double *le;
	double unit;
} hists[METRICS_NHISTS] = {
	{ "sqlite_fcgi_create_user_seconds", "Time to answer /create_user/, in the worker.", seconds, 1e9 },
	{ "sqlite_fcgi_write_lock_wait_seconds", "Time BEGIN took: with BEGIN IMMEDIATE, the wait for the SQLite write lock.", seconds, 1e9 },
	{ "sqlite_fcgi_password_hash_seconds", "Time to hash one password with libxcrypt.", seconds, 1e9 },
	{ "sqlite_fcgi_group_commit_seconds", "Group commit: time one shared COMMIT took (its count: the shared transactions that reached COMMIT).", seconds, 1e9 },
	{ "sqlite_fcgi_group_commit_batch_size", "Group commit: write requests in one shared transaction (its count: the shared transactions).", sizes, 1 },
};
/*
 * The busy answers counted by name (db_errname()), as the engines name
 * them (db_busy_names), read once at metrics_open.  Any other is "other".
 */
static const char *busy_names[NBUSY];
static size_t nbusy;

typedef _Atomic uint64_t counter;

struct histogram {
	counter bucket[NBUCKETS + 1];
	counter sum;	/* of the observations, in their unit */
	counter count;
};

struct slot {
	counter starts;		/* times a worker took this slot */
	counter requests[METRICS_MAX_ROUTES][NSTATUSES];
	struct histogram hist[METRICS_NHISTS];
	counter busy[NBUSY + 1];	/* the last: any other code */
};

struct region {
	_Atomic uint32_t magic;
	struct slot slots[METRICS_SLOTS];
};

static struct region *region;
static struct slot *mine;
static int region_fd = -1;

/*
 * Atomic: the serving threads of this worker all add to its slot (no other
 * process writes it).  Relaxed: no order is needed between counters, and
 * a scrape may read a count late.
 */
static void add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static int claim_slot(void)
{
	for (int i = 0; i < METRICS_SLOTS; i++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = i, .l_len = 1 };

		if (fcntl(region_fd, F_OFD_SETLK, &fl) == 0)
			return i;
		if (errno != EAGAIN && errno != EACCES)
			return -1;
	}
	errno = ENOSPC;
	return -1;
}

/*
 * The file is the workers' alone: opened without following a symlink
 * (O_NOFOLLOW: a name planted in a shared directory cannot point the
 * workers at another file), and refused unless it is a regular file of
 * this user that no one else may read or write.
 */
static int open_region_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	region_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (region_fd < 0 || fstat(region_fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: not a private file of this user (owner uid %ld,"
			 " mode %04o; wanted uid %ld, 0600): remove it", path,
			 (long)st.st_uid, (unsigned)(st.st_mode & 07777), (long)geteuid());
		return -1;
	}
	return 0;
}

/*
 * Allocates every block of the region before it is mapped.  A file only
 * grown with ftruncate is sparse: on a full file system, the first store
 * to a page without a block raises SIGBUS and kills the worker.  Skipped
 * once the blocks are there (another worker allocated them), so that no
 * fallback of posix_fallocate that writes zeros races a running worker's
 * counters.
 */
static int allocate_region(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	if (fstat(region_fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_size >= (off_t)sizeof(struct region) &&
	    (unsigned long long)st.st_blocks * 512 >= sizeof(struct region))
		return 0;
	/* It returns the error number; errno is left alone. */
	rc = posix_fallocate(region_fd, 0, (off_t)sizeof(struct region));
	if (rc != 0) {
		snprintf(err, errlen, "%s: allocating %zu bytes: %s", path,
			 sizeof(struct region), strerror(rc));
		return -1;
	}
	return 0;
}

static int map_region(const char *path, char *err, size_t errlen)
{
	void *p;

	if (open_region_file(path, err, errlen) != 0 ||
	    allocate_region(path, err, errlen) != 0)
		return -1;
	/* An allocated file reads as zeros: zeroed counters, whoever allocated it. */
	p = mmap(NULL, sizeof(struct region), PROT_READ | PROT_WRITE, MAP_SHARED, region_fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	region = p;
	return 0;
}

int metrics_open(const char *path, char *err, size_t errlen)
{
	uint32_t expect = 0;
	int slot;

	if (map_region(path, err, errlen) != 0) {
		metrics_close();
		return -1;
	}
	if ((slot = claim_slot()) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		metrics_close();
		return -1;
	}
	if (!atomic_compare_exchange_strong(&region->magic, &expect, METRICS_MAGIC) &&
	    expect != METRICS_MAGIC) {
		snprintf(err, errlen, "%s: not a metrics file of this version", path);
		metrics_close();
		return -1;
	}
	mine = &region->slots[slot];
	add(&mine->starts, 1);
	nbusy = db_busy_names(busy_names, NBUSY);
	return 0;
}

/*
 * Not checked: munmap of the whole mapping we made cannot fail (EINVAL is
 * for bad arguments), and close has nothing to flush: the counters live in
 * the shared mapping, which close neither writes nor drops.
 */
void metrics_close(void)
{
	if (region != NULL)
		(void)munmap(region, sizeof(struct region));
	if (region_fd >= 0)
		(void)close(region_fd);	/* drops the slot's lock */
	region = NULL;
	mine = NULL;
	region_fd = -1;
}

uint64_t metrics_now_ns(void)
{
	return monotonic_ns();
}

void metrics_count_request(size_t route, int status)
{
	if (mine == NULL || route >= METRICS_MAX_ROUTES)
		return;
	add(&mine->requests[route][http_status_index(status)], 1);
}

void metrics_observe(enum metrics_histogram h, uint64_t value)
{
	struct histogram *hist;
	int b = 0;

	if (mine == NULL)
		return;
	hist = &mine->hist[h];
	while (b < NBUCKETS && (double)value / hists[h].unit > hists[h].le[b])
		b++;
	add(&hist->bucket[b], 1);
	add(&hist->sum, value);
	add(&hist->count, 1);
}

void metrics_count_busy(const char *name)
{
	size_t i = 0;

	if (mine == NULL)
		return;
	while (i < nbusy && strcmp(busy_names[i], name) != 0)
		i++;
	add(&mine->busy[i < nbusy ? i : NBUSY], 1);
}

struct text {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void emit(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

static void render_requests(struct text *t, const char *const *route_names,
			    size_t nroutes)
{
	emit(t, "# HELP sqlite_fcgi_requests_total Requests answered by the workers, by route and status.\n"
		"# TYPE sqlite_fcgi_requests_total counter\n");
	for (size_t r = 0; r < nroutes && r < METRICS_MAX_ROUTES; r++) {
		for (size_t s = 0; s < NSTATUSES; s++) {
			uint64_t n = 0;

			for (int i = 0; i < METRICS_SLOTS; i++)
				n += get(&region->slots[i].requests[r][s]);
			if (n == 0)
				continue;
			if (s < NSTATUSES - 1)
				emit(t, "sqlite_fcgi_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				     route_names[r], http_status_at(s), (unsigned long long)n);
			else
				emit(t, "sqlite_fcgi_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				     route_names[r], (unsigned long long)n);
		}
	}
}

static void render_histogram(struct text *t, enum metrics_histogram h)
{
	uint64_t cumulative = 0, sum = 0, count = 0;

	emit(t, "# HELP %s %s\n# TYPE %s histogram\n", hists[h].name, hists[h].help, hists[h].name);
	for (int b = 0; b <= NBUCKETS; b++) {
		for (int i = 0; i < METRICS_SLOTS; i++)
			cumulative += get(&region->slots[i].hist[h].bucket[b]);
		if (b < NBUCKETS)
			emit(t, "%s_bucket{le=\"%g\"} %llu\n", hists[h].name, hists[h].le[b],
			     (unsigned long long)cumulative);
		else
			emit(t, "%s_bucket{le=\"+Inf\"} %llu\n", hists[h].name,
			     (unsigned long long)cumulative);
	}
	for (int i = 0; i < METRICS_SLOTS; i++) {
		sum += get(&region->slots[i].hist[h].sum);
		count += get(&region->slots[i].hist[h].count);
	}
	emit(t, "%s_sum %.9f\n%s_count %llu\n", hists[h].name, (double)sum / hists[h].unit,
	     hists[h].name, (unsigned long long)count);
}

static void render_busy(struct text *t)
{
	emit(t, "# HELP sqlite_fcgi_sqlite_busy_total Busy or locked answers from the database, by SQLite result code or PostgreSQL condition.\n"
		"# TYPE sqlite_fcgi_sqlite_busy_total counter\n");
	for (size_t c = 0; c <= nbusy; c++) {
		size_t at = c < nbusy ? c : NBUSY;	/* "other" is last */
		uint64_t n = 0;

		for (int i = 0; i < METRICS_SLOTS; i++)
			n += get(&region->slots[i].busy[at]);
		emit(t, "sqlite_fcgi_sqlite_busy_total{code=\"%s\"} %llu\n",
		     c < nbusy ? busy_names[c] : "other", (unsigned long long)n);
	}
}

static void render_workers(struct text *t)
{
	uint64_t restarts = 0;

	for (int i = 0; i < METRICS_SLOTS; i++) {
		uint64_t starts = get(&region->slots[i].starts);

		restarts += starts > 1 ? starts - 1 : 0;
	}
	emit(t, "# HELP sqlite_fcgi_worker_restarts_total Workers that took over the slot of one that had stopped.\n"
		"# TYPE sqlite_fcgi_worker_restarts_total counter\n"
		"sqlite_fcgi_worker_restarts_total %llu\n", (unsigned long long)restarts);
}

int metrics_render(char *out, size_t outlen, const char *const *route_names,
		   size_t nroutes, long long wal_bytes)
{
	struct text t = { .buf = out, .len = 0, .cap = outlen, .overflow = false };

	if (region == NULL)
		return -1;
	render_requests(&t, route_names, nroutes);
	for (int h = 0; h < METRICS_NHISTS; h++)
		render_histogram(&t, (enum metrics_histogram)h);
	render_busy(&t);
	render_workers(&t);
	emit(&t, "# HELP sqlite_fcgi_wal_bytes Size of the database's WAL file.\n"
		 "# TYPE sqlite_fcgi_wal_bytes gauge\n"
		 "sqlite_fcgi_wal_bytes %lld\n", wal_bytes < 0 ? 0 : wal_bytes);
	return t.overflow ? -1 : (int)t.len;
}
