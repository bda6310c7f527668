#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "commit.h"
#include "log.h"
#include "reconnect.h"
#include "metrics.h"
#include "server_thread.h"

/*
 * The worker process: WORKER_THREADS serving threads (server_thread.c)
 * and this, the main thread, which handles the stop signals and nothing
 * else.  No signal ever interrupts a serving thread: the stop signals are
 * blocked in every thread and taken here by sigwaitinfo(), and idle
 * threads are woken through an eventfd they wait on beside the listening
 * socket.  (libfcgi's own stop, FCGX_ShutdownPending, is not used: a
 * signal landing inside FCGX_Accept_r after accept() has returned drops
 * the connection libfcgi was reading, and with shutdownPending set its
 * accept loop then closes that descriptor again, forever.)
 */

static const struct {
	int sig;
	const char *name;
} stop_signals[] = {
	{ SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" }, { SIGHUP, "SIGHUP" },
	{ SIGUSR1, "SIGUSR1" },		/* multiwatch's graceful signal */
};

#define NSTOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static const char *stop_signal_name(int sig)
{
	for (size_t i = 0; i < NSTOP_SIGNALS; i++)
		if (stop_signals[i].sig == sig)
			return stop_signals[i].name;
	return "a signal";
}

/*
 * Blocks the stop signals in this thread, and so in every thread it
 * starts, for sigwaitinfo() to take them.  Their actions are set to the
 * default first: one left ignored by whoever exec'd us would be discarded
 * before sigwaitinfo could see it.  SIGPIPE and SIGUSR2 (which multiwatch
 * forwards) are ignored.  Returns 0, or -1 with errno set.
 */
static int take_stop_signals(sigset_t *stop_set)
{
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	if (sigemptyset(stop_set) != 0 || sigemptyset(&sa.sa_mask) != 0)
		return -1;
	for (size_t i = 0; i < NSTOP_SIGNALS; i++)
		if (sigaddset(stop_set, stop_signals[i].sig) != 0 ||
		    sigaction(stop_signals[i].sig, &sa, NULL) != 0)
			return -1;
	if ((rc = pthread_sigmask(SIG_BLOCK, stop_set, NULL)) != 0) {
		errno = rc;
		return -1;
	}
	/* A client that goes away must cost one failed write, not the worker. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0 || sigaction(SIGUSR2, &sa, NULL) != 0)
		return -1;
	return 0;
}

/*
 * A worker must not outlive its supervisor: after a kill -9 of multiwatch
 * its workers would live on as orphans, holding the socket and the
 * database, out of reach of "make stop" and of a new pool.  The kernel
 * sends the graceful stop signal when the parent dies; a parent that died
 * before the request was made shows as a changed parent pid (the parent
 * pid read before, as early as the worker can).  The setting belongs to
 * the calling thread, and the kernel sends its signal (to the whole
 * process, so sigwaitinfo takes it) while that thread lives: this main
 * thread, which lives until the process exits.
 */
static int die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
		log_warn("%s: prctl(PR_SET_PDEATHSIG): %s", __func__, strerror(errno));
		return -1;
	}
	if (getppid() != parent) {
		log_warn("%s: the supervisor (pid %ld) exited before this worker started",
			 __func__, (long)parent);
		return -1;
	}
	return 0;
}

/*
 * libfcgi on fd 0, which must be the listening socket spawn-fcgi made.
 * The socket is made non-blocking: a serving thread accepts only once
 * epoll says a connection waits, and one that another thread or worker
 * took first makes accept() fail with EAGAIN rather than wait, where no
 * stop could reach it.  The flag belongs to the socket's open file, which
 * every worker of the pool shares: they all run this.  The connections
 * accept() returns do not inherit it (Linux), so libfcgi's reads and
 * writes block as before.
 */
static int listen_without_blocking(void)
{
	int flags;

	if (FCGX_Init() != 0 || FCGX_IsCGI()) {
		log_warn("fd 0 is not a FastCGI listening socket: start the workers"
			 " with spawn-fcgi (see deploy/pool/workers.sh)");
		return -1;
	}
	flags = fcntl(FCGI_LISTENSOCK_FILENO, F_GETFL);
	if (flags < 0 || fcntl(FCGI_LISTENSOCK_FILENO, F_SETFL, flags | O_NONBLOCK) != 0) {
		log_warn("%s: fcntl: %s", __func__, strerror(errno));
		return -1;
	}
	return 0;
}

/* Starts the serving threads into threads[]; returns how many started. */
static long start_threads(struct server *srv, struct server_thread **threads)
{
	long n = srv->cfg->worker_threads, started = 0;

	for (long i = 0; i < n; i++)
		if ((threads[started] = server_thread_start(srv, (int)i)) != NULL)
			started++;
	if (started > 0 && started < n)
		log_warn("serving with %ld of WORKER_THREADS=%ld threads", started, n);
	return started;
}

/* Returns once a stop signal came, or a serving thread stopped on its own. */
static void wait_for_stop(struct server *srv, const sigset_t *stop_set)
{
	int sig;

	while ((sig = sigwaitinfo(stop_set, NULL)) < 0) {
		if (errno != EINTR) {
			log_warn("%s: sigwaitinfo: %s", __func__, strerror(errno));
			return;
		}
	}
	if (!atomic_load(&srv->thread_failed))
		log_info("stop requested by %s: %d in flight", stop_signal_name(sig),
			 atomic_load(&srv->in_flight));
}

/*
 * Tells every serving thread to stop: idle ones wake on stop_fd, busy ones
 * see the flag once they have answered.  A write to an eventfd of ours
 * fails only when its counter would overflow, which one write cannot do.
 */
static void stop_threads(struct server *srv)
{
	uint64_t one = 1;

	atomic_store(&srv->stopping, true);
	if (write(srv->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_warn("%s: eventfd: %s", __func__, strerror(errno));
}

/* Runs the threads until a stop; returns the requests they answered. */
static long serve(struct server *srv, const sigset_t *stop_set)
{
	struct server_thread **threads = calloc((size_t)srv->cfg->worker_threads,
						sizeof(*threads));
	long started, served = 0;

	if (threads == NULL) {
		log_warn("%s: out of memory", __func__);
		return -1;
	}
	started = start_threads(srv, threads);
	if (started > 0)
		wait_for_stop(srv, stop_set);
	stop_threads(srv);
	for (long i = 0; i < started; i++)
		served += server_thread_join(threads[i]);
	free(threads);
	return started > 0 ? served : -1;
}

int server_run(const struct config *cfg)
{
	struct server srv = { .cfg = cfg, .main_thread = pthread_self(), .stop_fd = -1,
			      .reopen_fd = -1 };
	char err[ERR_LEN];
	sigset_t stop_set;
	pid_t parent = getppid();
	long served;

	if (take_stop_signals(&stop_set) != 0) {
		log_warn("%s: setting the signals up: %s", __func__, strerror(errno));
		return 1;
	}
	/* After the mask: the death signal must find the stop signals taken. */
	if (die_with_parent(parent) != 0 || listen_without_blocking() != 0)
		return 1;
	if ((srv.stop_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    (srv.reopen_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_warn("%s: eventfd: %s", __func__, strerror(errno));
		return 1;
	}
	reconnect_notify_on(srv.reopen_fd);
	/* Metrics help but are not essential: serve without them if need be. */
	if (metrics_open(cfg->metrics_path, err, sizeof(err)) != 0)
		log_warn("serving without metrics: %s", err);
	/* Out of memory for it, each request commits on its own, as with off. */
	if (cfg->group_commit == GROUP_COMMIT_ON &&
	    (srv.commit = commit_queue_create(cfg)) == NULL)
		log_warn("serving without group commit");
	served = serve(&srv, &stop_set);
	/* Every thread is joined: nothing is queued any more. */
	commit_queue_free(srv.commit);
	if (served >= 0)
		log_info("stopping after %ld requests", served);
	metrics_close();
	/* An eventfd has nothing to flush: close cannot lose anything. */
	reconnect_notify_on(-1);
	(void)close(srv.reopen_fd);
	(void)close(srv.stop_fd);
	return served >= 0 ? 0 : 1;
}
