#ifndef SQLITE_FCGI_WRITELOCK_H
#define SQLITE_FCGI_WRITELOCK_H

#include <stddef.h>

/*
 * A fair, low-latency wait for SQLite's write lock: an exclusive flock() on
 * a small file beside the database, taken just before BEGIN IMMEDIATE and
 * released after COMMIT or ROLLBACK.  Writers of this service queue in the
 * kernel, which wakes the next one the moment the lock is free, instead of
 * polling with SQLite's busy handler (which sleeps up to 100 ms between
 * tries and so gives long tails).  The kernel releases the lock of a worker
 * that dies.  SQLite's own busy timeout stays as the safety net against
 * writers that do not take this lock (a sqlite3 shell, a backup).
 *
 * The lock is per open file: each connection's writelock is its own, so
 * two threads of one process queue for it as two processes do.
 *
 * Side effects: writelock_open installs a SIGALRM handler for the process
 * (an empty one, without SA_RESTART, replacing any other).  A wait that
 * has to block arms a POSIX timer that sends SIGALRM to the waiting thread
 * alone (SIGEV_THREAD_ID), unblocked there for the wait, so that the alarm
 * interrupts its flock() with EINTR; the timer is deleted and the thread's
 * signal mask put back before it returns.  The process's other threads
 * are never interrupted.  Nothing else in the process may use SIGALRM
 * (alarm(), setitimer) while a writelock is open.
 */

struct writelock;

enum writelock_result { WRITELOCK_OK, WRITELOCK_TIMEOUT, WRITELOCK_ERR };

/*
 * Opens (creating, mode 0600) the lock file path.  A wait gives up after
 * timeout_ms (0: a single try).  On failure returns -1 with err set.
 */
int writelock_open(const char *path, long timeout_ms, struct writelock **out,
		   char *err, size_t errlen);

/* Waits for the lock; WRITELOCK_TIMEOUT after the timeout. */
enum writelock_result writelock_acquire(struct writelock *wl);

/* Releases the lock if held; safe to call when it is not. */
void writelock_release(struct writelock *wl);

/* Closes the file (releasing the lock); NULL is a no-op. */
void writelock_close(struct writelock *wl);

#endif
