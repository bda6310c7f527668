#include "writelock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monotonic.h"

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
 * Arms SIGALRM after ms, then every 10 ms: should the first alarm land just
 * before flock() starts to wait, a later one still interrupts it.
 */
static int arm_alarm(long ms)
{
	struct itimerval t = {
		.it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 },
		.it_interval = { .tv_sec = 0, .tv_usec = 10000 },
	};

	return setitimer(ITIMER_REAL, &t, NULL);
}

/* An alarm left armed would interrupt the worker every 10 ms from now on. */
static void disarm_alarm(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	if (setitimer(ITIMER_REAL, &off, NULL) != 0)
		log_warn("%s: setitimer: %s", __func__, strerror(errno));
}

static double now_ms(void)
{
	return (double)monotonic_ns() / 1e6;
}

enum writelock_result writelock_acquire(struct writelock *wl)
{
	enum writelock_result res = WRITELOCK_OK;
	double deadline = now_ms() + (double)wl->timeout_ms;

	if (wl->timeout_ms == 0) {
		if (flock(wl->fd, LOCK_EX | LOCK_NB) == 0)
			goto held;
		return errno == EWOULDBLOCK ? WRITELOCK_TIMEOUT : WRITELOCK_ERR;
	}
	if (arm_alarm(wl->timeout_ms) != 0)
		return WRITELOCK_ERR;
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
	disarm_alarm();
	if (res != WRITELOCK_OK)
		return res;
held:
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
