#include "dbtest.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "db_sqlite_conn.h"
#include "rows.h"


/* Opens a database with env's settings and checks what SQLite reports. */
static void assert_pragmas(const char *const *env, const char *journal, int synchronous)
{
	struct config cfg;
	struct db_pragmas p;
	struct db *db;

	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	assert_int_equal(db_sqlite_read_pragmas(db, &p), DB_OK);
	assert_string_equal(p.journal_mode, journal);
	assert_int_equal(p.synchronous, synchronous);
	assert_int_equal(p.busy_timeout_ms, 5000);
	assert_int_equal(p.schema_version, DB_SCHEMA_VERSION);
	db_close(db);
}

static void tuned_pragmas_are_applied(void **state)
{
	(void)state;
	assert_pragmas(NULL, "wal", 2);
}

static void django_default_pragmas_are_applied(void **state)
{
	const char *env[] = { "SQLITE_PROFILE=django-default", NULL };

	(void)state;
	assert_pragmas(env, "delete", 2);
}

/* Every journal mode and synchronous level asked for is what SQLite reports. */
static void every_journal_mode_and_synchronous_level_reads_back(void **state)
{
	static const char *const journals[] = { "delete", "truncate", "persist", "wal" };
	static const char *const levels[] = { "off", "normal", "full", "extra" };
	char journal[64], level[64];

	(void)state;
	for (int j = 0; j < 4; j++)
		for (int l = 0; l < 4; l++) {
			const char *env[] = { journal, level, NULL };

			snprintf(journal, sizeof(journal), "SQLITE_JOURNAL_MODE=%s", journals[j]);
			snprintf(level, sizeof(level), "SQLITE_SYNCHRONOUS=%s", levels[l]);
			assert_pragmas(env, journals[j], l);
		}
}

/* The schema as SQLite keeps it: every CREATE statement, in order. */
static void schema_text(const char *path, char *out, size_t len)
{
	sqlite3 *raw;
	sqlite3_stmt *st;
	size_t used = 0;

	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid", -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW && used < len)
		used += (size_t)snprintf(out + used, len - used, "%s;\n", sqlite3_column_text(st, 0));
	assert_true(used < len);
	sqlite3_finalize(st);
	sqlite3_close(raw);
}

/*
 * Migrating twice changes nothing.  (That auth_user is Django's, column for
 * column, tests/integration/test_django_schema.py checks against Django's
 * own migrate.)
 */
static void migrating_twice_is_harmless(void **state)
{
	struct config cfg;
	char once[4096], twice[4096];

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db_close(dbtest_open(&cfg));
	schema_text(t.path, once, sizeof(once));
	assert_non_null(strstr(once, "CREATE TABLE \"auth_user\""));
	db_close(dbtest_open(&cfg));
	schema_text(t.path, twice, sizeof(twice));
	assert_string_equal(once, twice);
}

static long long raw_int(sqlite3 *raw, const char *sql)
{
	sqlite3_stmt *st;
	long long n;

	assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A version 1 file with users is upgraded, and the count kept by triggers. */
static void the_user_count_survives_migration_inserts_and_deletes(void **state)
{
	struct config cfg;
	struct db *db;
	sqlite3 *raw;
	long long n = -1;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	assert_int_equal(sqlite3_open(t.path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw,
		"CREATE TABLE auth_user (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,"
		" password varchar(128) NOT NULL, last_login datetime NULL, is_superuser bool NOT NULL,"
		" username varchar(150) NOT NULL UNIQUE, last_name varchar(150) NOT NULL,"
		" email varchar(254) NOT NULL, is_staff bool NOT NULL, is_active bool NOT NULL,"
		" date_joined datetime NOT NULL, first_name varchar(150) NOT NULL);"
		"INSERT INTO auth_user VALUES (NULL, 'x', NULL, 0, 'a', '', '', 0, 1, '', ''),"
		" (NULL, 'x', NULL, 0, 'b', '', '', 0, 1, '', '');"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	db = dbtest_open(&cfg);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(db_user_insert(db, "c", "", "x"), DB_OK);
	/* Rows written by another program (Django) are counted too. */
	assert_int_equal(sqlite3_exec(raw, "DELETE FROM auth_user WHERE username IN ('a', 'b')", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(n, raw_int(raw, "SELECT COUNT(*) FROM auth_user"));
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	sqlite3_close(raw);
	db_close(db);
}

static const struct db_row a_row = {
	.name = "n", .campaign = "c", .voice = "v", .recognize = "r", .growth = "g",
	.yard = "y", .discussion = "d", .inside = 1.5, .side = -2,
};

/* A version 2 file (before the matrix) gains basic_model_row and keeps its users. */
static void a_version_2_file_gains_the_matrix_table(void **state)
{
	struct config cfg;
	struct db *db;
	sqlite3 *raw;
	long long id = 0;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_int_equal(db_user_insert(db, "kept", "", "x"), DB_OK);
	db_close(db);
	assert_int_equal(sqlite3_open(t.path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "DROP TABLE basic_model_row; PRAGMA user_version = 2;",
				      NULL, NULL, NULL), SQLITE_OK);
	db = dbtest_open(&cfg);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(raw, "SELECT COUNT(*) FROM auth_user WHERE username = 'kept'"), 1);
	assert_int_equal(db_row_insert(db, &a_row, &id), DB_OK);
	assert_int_equal(id, 1);
	assert_int_equal(raw_int(raw, "SELECT COUNT(*) FROM basic_model_row WHERE inside = 1.5"
			 " AND side = -2 AND discussion = 'd'"), 1);
	sqlite3_close(raw);
	db_close(db);
}

static void serving_needs_a_migrated_file(void **state)
{
	struct config cfg;
	struct db *db = NULL;
	char err[ERR_LEN];

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	assert_int_equal(db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)), DB_ERR);
	assert_null(db);
	assert_non_null(strstr(err, "run 'sqlite-fcgi migrate' first"));
	/* An empty file that was never migrated is refused as well. */
	assert_int_equal(db_open(&cfg, DB_OPEN_MIGRATE, &db, err, sizeof(err)), DB_OK);
	db_close(db);
	db = NULL;
	assert_int_equal(db_open(&cfg, DB_OPEN_SERVE, &db, err, sizeof(err)), DB_ERR);
	assert_non_null(strstr(err, "schema version 0, expected 3"));
}

/*
 * A child process that holds the write lock: it begins (taking flock first
 * when cfg says so), inserts the user "holder", says so through a pipe, and
 * commits once told to through another pipe, or after hold_ms (-1: only
 * when told).  The waiter sees "holder" only if it got the lock after the
 * commit: an event, not a clock, shows that it waited.
 */
struct holder {
	pid_t pid;
	int release;	/* write a byte (or close) to let it commit */
};

static struct holder hold_write_lock(const struct config *cfg, int hold_ms)
{
	int ready[2], go[2];
	struct holder h;
	char c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	h.pid = fork();
	assert_true(h.pid >= 0);
	if (h.pid == 0) {
		char err[ERR_LEN];
		struct db *db = NULL;
		struct pollfd pfd = { .fd = go[0], .events = POLLIN };

		close(go[1]);
		if (db_open(cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK ||
		    db_begin(db) != DB_OK || db_user_insert(db, "holder", "", "x") != DB_OK ||
		    write(ready[1], "x", 1) != 1 || poll(&pfd, 1, hold_ms) < 0)
			_exit(1);
		_exit(db_commit(db) == DB_OK ? 0 : 1);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h.release = go[1];
	return h;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void release_and_reap(struct holder *h)
{
	if (h->release >= 0)
		close(h->release);
	h->release = -1;
	reap(h->pid);
}

/* The number of users db sees: 1 once the holder's commit is visible. */
static long long users_seen(struct db *db)
{
	long long n = -1;

	assert_int_equal(db_user_count(db, &n), DB_OK);
	return n;
}

/*
 * Counts the calls of SQLite's busy handler on a connection (in place of
 * the busy timeout's handler: sleeps 1 ms a call, gives up after 10000).
 */
static atomic_int busy_calls;

static int count_busy_call(void *unused, int n)
{
	(void)unused;
	atomic_fetch_add(&busy_calls, 1);
	sqlite3_sleep(1);
	return n < 10000;
}

static void count_busy_calls(struct db *db)
{
	atomic_store(&busy_calls, 0);
	assert_int_equal(sqlite3_busy_handler(sq(db)->conn, count_busy_call, NULL), SQLITE_OK);
}

/*
 * Whether this process waits in the kernel's queue for an flock on the
 * write lock file: /proc/locks lists a blocked request as "N: -> FLOCK ...
 * PID MAJ:MIN:INODE ...".
 */
static bool queued_on_flock(ino_t inode)
{
	FILE *f = fopen("/proc/locks", "r");
	char line[256];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long ino;
		long pid;

		if (sscanf(line, "%*d: -> FLOCK %*s %*s %ld %*x:%*x:%lu", &pid, &ino) == 2)
			found = pid == (long)getpid() && ino == (unsigned long)inode;
	}
	fclose(f);
	return found;
}

/* What a releaser thread waits for before it lets the holder commit. */
enum release_when { AFTER_300_MS, ON_BUSY_HANDLER_CALLS, ON_FLOCK_QUEUED };

struct releaser {
	pthread_t thread;
	enum release_when when;
	ino_t inode;
	struct holder *holder;
	bool saw_event;
};

/* Polls for the event every 1 ms for at most ~10 s, then releases anyway. */
static void *release_holder(void *arg)
{
	struct releaser *r = arg;

	/* flock's timeout is a SIGALRM for the waiting thread alone: never this one. */
	for (int i = 0; i < 10000 && !r->saw_event; i++) {
		if (r->when == ON_BUSY_HANDLER_CALLS)
			r->saw_event = atomic_load(&busy_calls) >= 2;
		else if (r->when == ON_FLOCK_QUEUED)
			r->saw_event = queued_on_flock(r->inode);
		else
			r->saw_event = i >= 300;
		if (!r->saw_event)
			usleep(1000);
	}
	if (write(r->holder->release, "x", 1) != 1)
		r->saw_event = false;
	return NULL;
}

static void start_releaser(struct releaser *r, struct holder *h, enum release_when when)
{
	char lock[200];
	struct stat st;

	r->when = when;
	r->holder = h;
	r->saw_event = false;
	snprintf(lock, sizeof(lock), "%s-writelock", t.path);
	r->inode = stat(lock, &st) == 0 ? st.st_ino : 0;
	assert_int_equal(pthread_create(&r->thread, NULL, release_holder, r), 0);
}

static void join_releaser(struct releaser *r)
{
	assert_int_equal(pthread_join(r->thread, NULL), 0);
	assert_true(r->saw_event);
}

/*
 * WRITE_LOCK_WAIT=sqlite: BEGIN IMMEDIATE meets the holder's lock, and
 * SQLite's own busy handler (the busy timeout's) waits until it commits.
 */
static void sqlite_busy_timeout_waits_for_the_holder(void **state)
{
	const char *env[] = { "WRITE_LOCK_WAIT=sqlite", NULL };
	struct config cfg;
	struct releaser r;
	struct holder h;
	struct db *db;

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	h = hold_write_lock(&cfg, -1);
	start_releaser(&r, &h, AFTER_300_MS);	/* a delay, not a bound */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(users_seen(db), 1);	/* got the lock after the commit */
	assert_int_equal(db_commit(db), DB_OK);
	join_releaser(&r);
	release_and_reap(&h);
	db_close(db);
}

/*
 * Without a busy timeout, BEGIN IMMEDIATE is SQLITE_BUSY while the holder
 * still holds (it commits only when released): through SQLite with
 * WRITE_LOCK_WAIT=sqlite, through a non-blocking flock with flock.
 */
static void fails_without_a_busy_timeout(const char *wait, const char *message)
{
	const char *env[] = { "SQLITE_BUSY_TIMEOUT_MS=0", wait, NULL };
	const char *env_holder[] = { wait, NULL };
	struct config cfg, cfg_holder;
	struct holder h;
	struct db *db;
	double start;

	dbtest_config(&t, &cfg, env);
	dbtest_config(&t, &cfg_holder, env_holder);
	db = dbtest_open(&cfg);
	h = hold_write_lock(&cfg_holder, -1);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_BUSY);
	/* At once, not after the 5 s default: the margin absorbs a loaded machine. */
	assert_true(dbtest_now() - start < 2.5);
	assert_int_equal(db_errcode(db), SQLITE_BUSY);
	assert_string_equal(db_errmsg(db), message);
	release_and_reap(&h);
	db_close(db);
}

static void sqlite_wait_fails_without_a_busy_timeout(void **state)
{
	(void)state;
	fails_without_a_busy_timeout("WRITE_LOCK_WAIT=sqlite", "database is locked");
}

static void flock_wait_fails_without_a_busy_timeout(void **state)
{
	(void)state;
	fails_without_a_busy_timeout("WRITE_LOCK_WAIT=flock",
				     "timed out waiting for the write lock file");
}

/* Whether this process can take the lock file: nobody holds it. */
static bool writelock_free(void)
{
	char lock[200];
	int fd;
	bool free_now;

	snprintf(lock, sizeof(lock), "%s-writelock", t.path);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	/* Another open file description: it conflicts with the connection's own. */
	free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_now;
}

/* How the waiter writes: a transaction, or (the matrix) one INSERT on its own. */
enum writer { WRITE_IN_TRANSACTION, WRITE_IMMEDIATE, WRITE_AUTOCOMMIT };

static void write_after_the_holder(struct db *db, enum writer how)
{
	long long id;

	if (how == WRITE_AUTOCOMMIT) {
		assert_int_equal(db_row_insert(db, &a_row, &id), DB_OK);
		return;
	}
	assert_int_equal(how == WRITE_IMMEDIATE ? db_begin_as(db, DB_BEGIN_IMMEDIATE)
						: db_begin(db), DB_OK);
	assert_int_equal(users_seen(db), 1);	/* got the lock after the commit */
	assert_int_equal(db_commit(db), DB_OK);
}

/*
 * What differs between the two waits: with WRITE_LOCK_WAIT=sqlite, SQLite
 * calls its busy handler (the holder is released only once it has been
 * called twice); with flock, the waiter sits in the kernel's queue for the
 * lock file (the holder is released only once /proc/locks shows it there)
 * and SQLite's busy handler is never called: the write runs once the lock
 * is free, and lets the lock file go after.
 */
static void waiting(const char *wait, enum release_when when, enum writer how)
{
	const char *env[] = { wait, NULL };
	struct config cfg;
	struct releaser r;
	struct holder h;
	struct db *db;

	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	count_busy_calls(db);
	h = hold_write_lock(&cfg, -1);
	start_releaser(&r, &h, when);
	write_after_the_holder(db, how);
	join_releaser(&r);
	release_and_reap(&h);
	if (when == ON_FLOCK_QUEUED) {
		assert_int_equal(atomic_load(&busy_calls), 0);
		assert_true(writelock_free());
	} else {
		assert_true(atomic_load(&busy_calls) >= 2);
	}
	db_close(db);
}

static void sqlite_wait_goes_through_the_busy_handler(void **state)
{
	(void)state;
	waiting("WRITE_LOCK_WAIT=sqlite", ON_BUSY_HANDLER_CALLS, WRITE_IN_TRANSACTION);
}

static void flock_writers_queue_in_the_kernel(void **state)
{
	(void)state;
	waiting("WRITE_LOCK_WAIT=flock", ON_FLOCK_QUEUED, WRITE_IN_TRANSACTION);
}

/* read_write_transaction_immediate/'s BEGIN IMMEDIATE queues the same way. */
static void flock_immediate_begins_queue_in_the_kernel(void **state)
{
	(void)state;
	waiting("WRITE_LOCK_WAIT=flock", ON_FLOCK_QUEUED, WRITE_IMMEDIATE);
}

/* The matrix's writes outside a transaction (write/, read_write/, write_read/). */
static void flock_autocommit_writes_queue_in_the_kernel(void **state)
{
	(void)state;
	waiting("WRITE_LOCK_WAIT=flock", ON_FLOCK_QUEUED, WRITE_AUTOCOMMIT);
}

static void sqlite_autocommit_writes_go_through_the_busy_handler(void **state)
{
	(void)state;
	waiting("WRITE_LOCK_WAIT=sqlite", ON_BUSY_HANDLER_CALLS, WRITE_AUTOCOMMIT);
}

/*
 * The matrix's reads, alone or in read_transaction/'s transaction, never
 * wait for the write lock: they answer while the holder keeps the lock
 * file and SQLite's write lock (a wait would end in SQLITE_BUSY, the
 * holder never letting go before the end of the test).
 */
static void matrix_reads_take_no_write_lock(void **state)
{
	struct rows_done done;
	struct config cfg;
	struct holder h;
	struct db *db;
	int n = -1;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	h = hold_write_lock(&cfg, -1);
	assert_int_equal(db_rows_read(db, &n), DB_OK);
	assert_int_equal(n, 0);
	assert_int_equal(db_begin_as(db, DB_BEGIN_READ), DB_OK);
	assert_int_equal(db_rows_read(db, &n), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	/* The endpoints' own runs: read/ and read_transaction/. */
	assert_int_equal(rows_run(db, &rows_view_read, NULL, &done), DB_OK);
	assert_int_equal(rows_run(db, &rows_view_read_transaction, NULL, &done), DB_OK);
	assert_false(writelock_free());	/* the holder's, still */
	release_and_reap(&h);
	db_close(db);
}

/*
 * The seed's failure: a deferred transaction that has read cannot wait for
 * the write lock, whatever the busy timeout.  Runs one profile's journal.
 */
static void deferred_read_then_write(const char *journal, int want_code)
{
	const char *env_a[] = { "SQLITE_TXN=deferred", journal, NULL };
	struct config cfg_a, cfg_b;
	struct db *a, *b;
	double start;
	int nread;

	dbtest_config(&t, &cfg_a, env_a);
	dbtest_config(&t, &cfg_b, env_a + 1);
	a = dbtest_open(&cfg_a);
	b = dbtest_open(&cfg_b);
	assert_int_equal(db_begin(a), DB_OK);
	assert_int_equal(db_users_read_recent(a, &nread), DB_OK);
	/* Another connection writes meanwhile (and, in WAL mode, commits). */
	assert_int_equal(db_begin(b), DB_OK);
	assert_int_equal(db_user_insert(b, "other", "", "x"), DB_OK);
	if (want_code == SQLITE_BUSY_SNAPSHOT)
		assert_int_equal(db_commit(b), DB_OK);
	start = dbtest_now();
	assert_int_equal(db_user_insert(a, "mine", "", "x"), DB_BUSY);
	/* No 5 s busy wait: 1 s leaves a loaded machine a wide margin. */
	assert_true(dbtest_now() - start < 1.0);
	assert_int_equal(db_errcode(a), want_code);
	assert_string_equal(db_errname(a), want_code == SQLITE_BUSY ? "SQLITE_BUSY" : "SQLITE_BUSY_SNAPSHOT");
	db_rollback(a);
	if (want_code != SQLITE_BUSY_SNAPSHOT)
		assert_int_equal(db_commit(b), DB_OK);
	db_close(a);
	db_close(b);
}

static void deferred_write_after_read_is_busy_in_wal(void **state)
{
	(void)state;
	deferred_read_then_write("SQLITE_JOURNAL_MODE=wal", SQLITE_BUSY_SNAPSHOT);
}

static void deferred_write_after_read_is_busy_in_rollback_journal(void **state)
{
	(void)state;
	deferred_read_then_write("SQLITE_JOURNAL_MODE=delete", SQLITE_BUSY);
}

/*
 * The holder never commits on its own, so the only way out of the wait is
 * the timeout; the lower bound is the wait's own deadline (same monotonic
 * clock), so it holds however loaded the machine is.
 */
static void flock_wait_gives_up_after_the_busy_timeout(void **state)
{
	const char *env[] = { "WRITE_LOCK_WAIT=flock", "SQLITE_BUSY_TIMEOUT_MS=100", NULL };
	const char *env_holder[] = { "WRITE_LOCK_WAIT=flock", NULL };
	struct config cfg, cfg_holder;
	struct holder h;
	struct db *db;
	double start;

	(void)state;
	dbtest_config(&t, &cfg, env);
	dbtest_config(&t, &cfg_holder, env_holder);
	db = dbtest_open(&cfg);
	h = hold_write_lock(&cfg_holder, -1);
	start = dbtest_now();
	assert_int_equal(db_begin(db), DB_BUSY);
	assert_true(dbtest_now() - start >= 0.1);
	assert_string_equal(db_errmsg(db), "timed out waiting for the write lock file");
	release_and_reap(&h);
	/* Once free, the same connection writes again, after the holder. */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(users_seen(db), 1);
	assert_int_equal(db_commit(db), DB_OK);
	db_close(db);
}

/*
 * A thread whose flock wait times out, while another thread of the same
 * process holds the lock on a connection of its own (the lock is per open
 * file: threads queue for it as processes do).  It says when it is done
 * through a pipe.
 */
struct timed_waiter {
	pthread_t thread;
	const struct config *cfg;
	int done;			/* the pipe's write end */
	enum db_result got;
	double waited;
};

static void *wait_then_say_so(void *arg)
{
	struct timed_waiter *w = arg;
	char err[ERR_LEN];
	struct db *db = NULL;
	double start;

	w->got = DB_ERR;
	if (db_open(w->cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) == DB_OK) {
		start = dbtest_now();
		w->got = db_begin(db);
		w->waited = dbtest_now() - start;
		if (w->got == DB_OK)
			db_rollback(db);
	}
	db_close(db);
	if (write(w->done, "x", 1) != 1)
		w->got = DB_ERR;
	return NULL;
}

/*
 * The wait's alarm goes to the waiting thread alone: this thread, blocked
 * in read() with SIGALRM unblocked (as a serving thread is while it reads
 * a request), is not interrupted by it.  With a process-wide alarm
 * (setitimer), the kernel hands SIGALRM to the main thread first, and the
 * read fails with EINTR.
 */
static void a_flock_wait_interrupts_only_its_own_thread(void **state)
{
	const char *env[] = { "WRITE_LOCK_WAIT=flock", "SQLITE_BUSY_TIMEOUT_MS=100", NULL };
	struct timed_waiter w;
	struct config cfg;
	struct db *db;
	int done[2];
	ssize_t got;
	char c;

	(void)state;
	dbtest_config(&t, &cfg, env);
	db = dbtest_open(&cfg);
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(pipe(done), 0);
	w = (struct timed_waiter){ .cfg = &cfg, .done = done[1] };
	assert_int_equal(pthread_create(&w.thread, NULL, wait_then_say_so, &w), 0);
	got = read(done[0], &c, 1);
	/* Let go first: an interrupted read must fail the test, not hang it. */
	db_rollback(db);
	assert_int_equal(pthread_join(w.thread, NULL), 0);
	assert_int_equal(got, 1);
	assert_int_equal(w.got, DB_BUSY);
	assert_true(w.waited >= 0.1);
	db_close(db);
	close(done[0]);
	close(done[1]);
}

static void a_deleted_file_is_noticed(void **state)
{
	struct config cfg;
	struct db *db;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_int_equal(db_ping(db), DB_OK);
	assert_int_equal(db_needs_reopen(db), DB_REOPEN_NO);
	assert_int_equal(unlink(t.path), 0);
	assert_int_equal(db_ping(db), DB_ERR);
	assert_int_equal(db_errcode(db), SQLITE_READONLY_DBMOVED);
	assert_int_equal(db_needs_reopen(db), DB_REOPEN_CLOSE_FIRST);
	/* A transaction on the deleted file is refused, not silently lost. */
	db_clear_error(db);
	assert_int_equal(db_begin(db), DB_ERR);
	assert_int_equal(db_needs_reopen(db), DB_REOPEN_CLOSE_FIRST);
	db_clear_error(db);
	assert_int_equal(db_needs_reopen(db), DB_REOPEN_NO);
	db_close(db);
}

/*
 * This binary is linked with -Wl,--wrap=free: every free() of the
 * service's code passes here first, so a test can read a block the wiping
 * allocator hands back to libc, the moment before libc gets it.
 */
void __real_free(void *p);
void __wrap_free(void *p);

static struct {
	const unsigned char *block;	/* what sqlite3_malloc returned */
	size_t len;
	bool freed, wiped;
} watched;

void __wrap_free(void *p)
{
	const unsigned char *start = p;

	/* The allocator frees its header, a few bytes in front of the block. */
	if (watched.block != NULL && start != NULL && start <= watched.block &&
	    watched.block - start <= 64) {
		watched.freed = true;
		watched.wiped = true;
		for (size_t i = 0; i < watched.len; i++)
			watched.wiped = watched.wiped && watched.block[i] == 0;
		watched.block = NULL;
	}
	__real_free(p);
}

static void watch(const void *block, size_t len)
{
	watched.block = block;
	watched.len = len;
	watched.freed = watched.wiped = false;
}

/* SQLite's blocks are wiped when freed, and the old block of a realloc too. */
static void freed_blocks_are_wiped(void **state)
{
	struct config cfg;
	unsigned char *p, *q;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db_close(dbtest_open(&cfg));
	/* SQLite is initialised now: a second set-up is refused, not half-applied. */
	assert_int_equal(db_global_init(), -1);

	p = sqlite3_malloc(100);
	assert_non_null(p);
	memset(p, 0xA5, 100);
	watch(p, 100);
	sqlite3_free(p);
	assert_true(watched.freed);
	assert_true(watched.wiped);

	p = sqlite3_malloc(48);
	assert_non_null(p);
	memset(p, 0x5A, 48);
	watch(p, 48);
	q = sqlite3_realloc(p, 4000);
	assert_non_null(q);
	assert_true(watched.freed);
	assert_true(watched.wiped);
	assert_int_equal(q[47], 0x5A);	/* the content moved */
	sqlite3_free(q);
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	fclose(f);
	return n;
}

/*
 * A reader that keeps an old snapshot stops checkpoints, and the WAL grows;
 * once it is gone, the next commit empties the WAL (TRUNCATE), where
 * SQLite's own autocheckpoint would leave the file at its largest.
 */
static void a_long_wal_is_truncated_after_a_commit(void **state)
{
	struct config cfg;
	struct db *db;
	sqlite3 *reader;
	char wal[160], name[32];

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	snprintf(wal, sizeof(wal), "%s-wal", t.path);
	assert_int_equal(sqlite3_open(t.path, &reader), SQLITE_OK);
	assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM auth_user;", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(db_begin(db), DB_OK);
		assert_int_equal(db_user_insert(db, name, "", "x"), DB_OK);
		assert_int_equal(db_commit(db), DB_OK);
	}
	assert_true(file_size(wal) > 4096L * 4096);
	assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	sleep(1);	/* a TRUNCATE is tried at most once a second */
	assert_int_equal(db_begin(db), DB_OK);
	assert_int_equal(db_user_insert(db, "last", "", "x"), DB_OK);
	assert_int_equal(db_commit(db), DB_OK);
	assert_int_equal(file_size(wal), 0);
	db_close(db);
}

/* Commits n users, one transaction each. */
static void commit_users(struct db *db, int n)
{
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		assert_int_equal(db_begin(db), DB_OK);
		assert_int_equal(db_user_insert(db, name, "", "x"), DB_OK);
		assert_int_equal(db_commit(db), DB_OK);
	}
}

/*
 * SQLITE_CHECKPOINTS=external, Litestream's advice: no worker checkpoints,
 * neither past SQLite's 1000 pages or the hook's 4096, nor when its
 * connection is the last to close.  The database file stays as it was and
 * every frame stays in the WAL for the program that checkpoints.  With
 * app (the default) the same commits go back into the file.
 */
static void external_checkpoints_are_left_to_another_program(void **state)
{
	static const char *const settings[][3] = {
		{ "SQLITE_CHECKPOINTS=external", "SQLITE_SYNCHRONOUS=off", NULL },
		{ "SQLITE_CHECKPOINTS=app", "SQLITE_SYNCHRONOUS=off", NULL },
	};
	char wal[160];

	(void)state;
	for (int i = 0; i < 2; i++) {
		bool external = i == 0;
		struct config cfg;
		struct db *db;
		long before, wal_size;

		/* Each setting on a database of its own. */
		test_rmdir(t.dir);
		dbtest_setup(&t);
		snprintf(wal, sizeof(wal), "%s-wal", t.path);
		dbtest_config(&t, &cfg, settings[i]);
		db = dbtest_open(&cfg);
		before = file_size(t.path);
		commit_users(db, 2000);
		wal_size = file_size(wal);
		assert_true(external ? file_size(t.path) == before : file_size(t.path) > before);
		assert_true(external ? wal_size > 4096L * 4096 : wal_size < 4096L * 4096);
		db_close(db);
		/* SQLite checkpoints and deletes the WAL as the last connection closes. */
		assert_int_equal(access(wal, F_OK) == 0, external);
		if (external)
			assert_int_equal(file_size(wal), wal_size);
	}
}

static void insert_count_and_unique_username(void **state)
{
	struct config cfg;
	struct db *db;
	long long n = -1;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	assert_int_equal(db_user_insert(db, "ann", "ann@example.com", "$y$x"), DB_OK);
	assert_int_equal(db_user_insert(db, "ann", "", "$y$x"), DB_CONSTRAINT);
	assert_int_equal(db_user_count(db, &n), DB_OK);
	assert_int_equal(n, 1);
	db_close(db);
}

/* Fills auth_user with n users in one transaction, as a bulk import would. */
static void insert_users(const char *path, int n)
{
	sqlite3 *conn = NULL;
	char sql[512];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
		 " FROM n WHERE i < %d) INSERT INTO auth_user (password, is_superuser,"
		 " username, last_name, email, is_staff, is_active, date_joined, first_name)"
		 " SELECT 'x', 0, 'u' || i, '', '', 0, 1, '2020-01-01 00:00:00', '' FROM n", n);
	assert_int_equal(sqlite3_open(path, &conn), SQLITE_OK);
	assert_int_equal(sqlite3_exec(conn, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(conn), SQLITE_OK);
}

/*
 * Reads the page of 10 below before_id, checks its ids, and returns the
 * virtual machine steps its statement took (*scanned: rows stepped over
 * in a full table scan), with the time it took in *ms.
 */
static int page_steps(struct db *db, long long before_id, long long first_id,
		      int *scanned, double *ms)
{
	static struct db_user_row rows[DB_PAGE_MAX];
	sqlite3_stmt *st = sq(db)->stmt[ST_PAGE];
	long long count;
	double start;
	int n;

	sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
	sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	start = dbtest_now();
	assert_int_equal(db_users_page(db, before_id, 10, rows, &n, &count), DB_OK);
	*ms = (dbtest_now() - start) * 1000;
	assert_int_equal(n, 10);
	for (int i = 0; i < n; i++)
		assert_int_equal(rows[i].id, first_id - i);
	*scanned = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	return sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
}

/*
 * GET /users/ pages cost the same however deep: the page query searches
 * the primary key from the page's first id down, never walks the rows
 * above it (a deep page of a 300,000-user table took 150 times the first
 * page's time when it did).
 */
static void a_deep_page_costs_what_the_first_costs(void **state)
{
	const int users = 300000;
	struct config cfg;
	struct db *db;
	int first, deep, first_scanned, deep_scanned;
	double first_ms, deep_ms;

	(void)state;
	dbtest_config(&t, &cfg, NULL);
	db = dbtest_open(&cfg);
	insert_users(t.path, users);
	first = page_steps(db, 0, users, &first_scanned, &first_ms);
	deep = page_steps(db, 12, 11, &deep_scanned, &deep_ms);
	print_message("%d users: first page %d steps (%.3f ms), after_id=12 %d steps (%.3f ms)\n",
		      users, first, first_ms, deep, deep_ms);
	assert_int_equal(first_scanned, 0);
	assert_int_equal(deep_scanned, 0);
	assert_true(deep <= first + 10);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tuned_pragmas_are_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(django_default_pragmas_are_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(every_journal_mode_and_synchronous_level_reads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(migrating_twice_is_harmless, setup, teardown),
		cmocka_unit_test_setup_teardown(the_user_count_survives_migration_inserts_and_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(a_version_2_file_gains_the_matrix_table, setup, teardown),
		cmocka_unit_test_setup_teardown(serving_needs_a_migrated_file, setup, teardown),
		cmocka_unit_test_setup_teardown(sqlite_busy_timeout_waits_for_the_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(sqlite_wait_fails_without_a_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_wait_fails_without_a_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(sqlite_wait_goes_through_the_busy_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_writers_queue_in_the_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_immediate_begins_queue_in_the_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_autocommit_writes_queue_in_the_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(sqlite_autocommit_writes_go_through_the_busy_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(matrix_reads_take_no_write_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(deferred_write_after_read_is_busy_in_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(deferred_write_after_read_is_busy_in_rollback_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(flock_wait_gives_up_after_the_busy_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(a_flock_wait_interrupts_only_its_own_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(a_deleted_file_is_noticed, setup, teardown),
		cmocka_unit_test_setup_teardown(freed_blocks_are_wiped, setup, teardown),
		cmocka_unit_test_setup_teardown(a_long_wal_is_truncated_after_a_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(external_checkpoints_are_left_to_another_program, setup, teardown),
		cmocka_unit_test_setup_teardown(insert_count_and_unique_username, setup, teardown),
		cmocka_unit_test_setup_teardown(a_deep_page_costs_what_the_first_costs, setup, teardown),
	};

	/* Every test below runs on the wiping allocator, as the service does. */
	if (db_global_init() != 0) {
		fprintf(stderr, "db_global_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
