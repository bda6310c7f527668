/* SIGEV_THREAD_ID and gettid(): a timer that signals one thread. */
#define _GNU_SOURCE

#include "writelock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monotonic.h"

/* glibc 2.36 does not name the field the kernel reads the thread id from. */
#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

struct writelock {
	int fd;
	long timeout_ms;
	bool held;
};

/* Does nothing: its only job is to interrupt a blocked flock() with EINTR. */
static void on_alarm(int sig)
{
	(void)sig;
}

static int install_alarm_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: flock() returns EINTR */
	if (sigemptyset(&sa.sa_mask) != 0)
		return -1;
	return sigaction(SIGALRM, &sa, NULL);
}

int writelock_open(const char *path, long timeout_ms, struct writelock **out,
		   char *err, size_t errlen)
{
	struct writelock *wl = calloc(1, sizeof(*wl));

	if (wl == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Read-only is enough for flock(), and opens on a read-only mount too. */
	wl->fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (wl->fd < 0 || install_alarm_handler() != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		writelock_close(wl);
		return -1;
	}
	wl->timeout_ms = timeout_ms;
	*out = wl;
	return 0;
}

/*
 * A timer that sends SIGALRM to the calling thread alone (SIGEV_THREAD_ID:
 * the process's other threads, answering their own requests, are never
 * interrupted) after ms, then every 10 ms: should the first alarm land
 * just before flock() starts to wait, a later one still interrupts it.
 */
static int arm_alarm(timer_t *timer, long ms)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	struct itimerspec t = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		.it_interval = { .tv_sec = 0, .tv_nsec = 10 * 1000000L },
	};

	ev.sigev_notify_thread_id = gettid();
	if (timer_create(CLOCK_MONOTONIC, &ev, timer) != 0)
		return -1;
	if (timer_settime(*timer, 0, &t, NULL) != 0) {
		(void)timer_delete(*timer);	/* ours, just made: it cannot fail */
		return -1;
	}
	return 0;
}

/*
 * Deleting the timer disarms it.  An alarm it raised just before is
 * delivered (to the empty handler) at the latest as timer_delete returns,
 * SIGALRM being unblocked here: none is left to interrupt a later call.
 */
static void disarm_alarm(timer_t timer)
{
	if (timer_delete(timer) != 0)
		log_warn("%s: timer_delete: %s", __func__, strerror(errno));
}

static double now_ms(void)
{
	return (double)monotonic_ns() / 1e6;
}

/* Waits in the kernel's queue until the lock is ours or timeout_ms passed. */
static enum writelock_result wait_bounded(struct writelock *wl)
{
	enum writelock_result res = WRITELOCK_OK;
	double deadline = now_ms() + (double)wl->timeout_ms;
	sigset_t alarm, before;
	timer_t timer;

	/* The wait needs its alarm: unblocked for its length, whatever the thread's mask. */
	if (sigemptyset(&alarm) != 0 || sigaddset(&alarm, SIGALRM) != 0 ||
	    pthread_sigmask(SIG_UNBLOCK, &alarm, &before) != 0)
		return WRITELOCK_ERR;
	if (arm_alarm(&timer, wl->timeout_ms) != 0) {
		res = WRITELOCK_ERR;
		goto out;
	}
	while (flock(wl->fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			res = WRITELOCK_ERR;
			break;
		}
		if (now_ms() >= deadline) {
			res = WRITELOCK_TIMEOUT;
			break;
		}
	}
	disarm_alarm(timer);
out:
	/* Restoring a mask read just above cannot fail. */
	(void)pthread_sigmask(SIG_SETMASK, &before, NULL);
	return res;
}

enum writelock_result writelock_acquire(struct writelock *wl)
{
	/* A free lock is taken at once, without a timer (the usual case). */
	if (flock(wl->fd, LOCK_EX | LOCK_NB) != 0) {
		enum writelock_result res;

		if (errno != EWOULDBLOCK && errno != EINTR)
			return WRITELOCK_ERR;
		if (wl->timeout_ms == 0)
			return WRITELOCK_TIMEOUT;
		if ((res = wait_bounded(wl)) != WRITELOCK_OK)
			return res;
	}
	wl->held = true;
	return WRITELOCK_OK;
}

void writelock_release(struct writelock *wl)
{
	if (wl == NULL || !wl->held)
		return;
	/* Closing the file would release it too; an unlock keeps the fd. */
	if (flock(wl->fd, LOCK_UN) != 0)
		log_warn("%s: flock: %s", __func__, strerror(errno));
	wl->held = false;
}

void writelock_close(struct writelock *wl)
{
	if (wl == NULL)
		return;
	/* Read-only: nothing to flush, so close cannot lose anything. */
	if (wl->fd >= 0)
		(void)close(wl->fd);
	free(wl);
}
