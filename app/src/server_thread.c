#include "server_thread.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fastcgi.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "commit.h"
#include "http.h"
#include "log.h"
#include "monotonic.h"
#include "reconnect.h"
#include "routes.h"
#include "routes_failure.h"

struct server_thread {
	pthread_t id;
	int index;
	struct server *srv;
	struct app app;			/* the settings, this thread's connection */
	FCGX_Request req;
	int epoll_fd;			/* the listening socket and srv->stop_fd */
	long accept_pause_ms;		/* 0 after an accept that worked */
	long served;
	struct route_buffers buf;	/* app.buf points here */
	char out[HTTP_OUT_MAX];		/* each response is built here */
};

/*
 * 503 with the fix when the engine refuses to serve (a file replaced
 * under the pool), after closing the connection, which belongs to the
 * old file.  Returns true when the request was answered.
 */
static bool refuse_if_told(struct app *app, struct http_request *r)
{
	char msg[ERR_LEN];

	if (db_refusal(app->cfg, msg, sizeof(msg)) == 0)
		return false;
	if (app->db != NULL) {
		log_warn("closing the database connection: %s", msg);
		reconnect_close(&app->db, &app->db_gen);
	}
	respond_unavailable(r, msg);
	return true;
}

static bool stopping(const struct server *srv)
{
	return atomic_load(&srv->stopping);
}

/*
 * Waits up to ms, or less when the process stops meanwhile.  A poll that
 * fails or is interrupted only cuts the pause short.
 */
static void pause_unless_stopped(const struct server *srv, long ms)
{
	struct pollfd stop = { .fd = srv->stop_fd, .events = POLLIN };

	(void)poll(&stop, 1, (int)ms);
}

/*
 * Whether to accept again after FCGX_Accept_r failed with error.  The
 * listening socket does not block (server.c): EAGAIN is a connection
 * another thread or worker took first.  Out of file descriptors or
 * memory, accept() fails and libfcgi returns the error instead of
 * retrying; exiting would hand the problem to multiwatch, which counts
 * quick deaths as a crash loop and may give the slot up: so wait and try
 * again, with a growing pause (10 ms to 1 s) that lets the fault clear
 * without spinning.  Other errors end the thread's loop.
 */
static bool accept_error_passes(struct server_thread *t, int error)
{
	static _Atomic time_t last_warning;

	if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR)
		return true;
	if (error != EMFILE && error != ENFILE && error != ENOMEM && error != ENOBUFS) {
		log_warn("accept failed: %s", strerror(error));
		return false;
	}
	t->accept_pause_ms = t->accept_pause_ms == 0 ? 10 : t->accept_pause_ms >= 500 ? 1000
								: t->accept_pause_ms * 2;
	if (log_due(&last_warning))
		log_warn("accept failed: %s: retrying in %ld ms", strerror(error),
			 t->accept_pause_ms);
	pause_unless_stopped(t->srv, t->accept_pause_ms);
	return true;
}

/*
 * Registers the listening socket in the thread's epoll set, exclusively:
 * a new connection wakes one idle thread of the pool, not every one.
 */
static int watch_listening(struct server_thread *t)
{
	struct epoll_event listening = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.fd = FCGI_LISTENSOCK_FILENO };

	return epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, FCGI_LISTENSOCK_FILENO, &listening);
}

/*
 * Puts this thread's registration on the listening socket at the back of
 * the socket's queue of waiters.  A new connection wakes the first idle
 * waiter in that queue, so a thread that has just taken one goes last:
 * idle threads, of this worker and of the others, take connections in
 * turn, as they did when each worker blocked in accept() (the kernel
 * queues those in order too).  Without it the first thread registered
 * would take every connection of a light load.
 */
static int requeue(struct server_thread *t)
{
	if (epoll_ctl(t->epoll_fd, EPOLL_CTL_DEL, FCGI_LISTENSOCK_FILENO, NULL) != 0 ||
	    watch_listening(t) != 0) {
		log_warn("%s: epoll_ctl: %s", __func__, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Sleeps until a connection waits on the listening socket or the process
 * stops (stop_fd).  Woken by reopen_fd (every connection of the process
 * must close: reconnect.h), it closes this thread's, and the writer's when
 * no batch holds it, first.  Returns false when the wait itself failed
 * (logged).
 */
static bool wait_for_work(struct server_thread *t)
{
	struct epoll_event ready[3];
	int n;

	while ((n = epoll_wait(t->epoll_fd, ready, 3, -1)) < 0) {
		if (errno != EINTR) {
			log_warn("%s: epoll_wait: %s", __func__, strerror(errno));
			return false;
		}
	}
	for (int i = 0; i < n; i++) {
		if (ready[i].data.fd != t->srv->reopen_fd)
			continue;
		(void)reconnect_drop_stale(&t->app.db, &t->app.db_gen);
		if (t->app.commit != NULL)
			commit_drop_stale(t->app.commit);
	}
	return true;
}

static void answer(struct server_thread *t)
{
	struct http_request r;
	struct app *app = &t->app;
	uint64_t start = monotonic_ns();

	atomic_fetch_add(&t->srv->in_flight, 1);
	http_request_init(&r, &t->req, t->out);
	if (!refuse_if_told(app, &r)) {
		/* The writer too, unless a batch holds it: reconnect_ensure waits for both. */
		if (reconnect_retire_read_only(&app->db, &app->db_gen) && app->commit != NULL)
			commit_drop_stale(app->commit);
		reconnect_ensure(app->cfg, &app->db, &app->db_gen, start);
		routes_dispatch(app, &r);
	}
	/*
	 * Sends what http_respond buffered.  It returns nothing: a write that
	 * fails here (nginx gave up on the client) ends with the connection,
	 * and nginx logs the request.
	 */
	FCGX_Finish_r(&t->req);
	/* After the answer: the client does not wait for the open. */
	reconnect_replace_broken(app->cfg, &app->db, &app->db_gen);
	t->served++;
	atomic_fetch_sub(&t->srv->in_flight, 1);
}

/*
 * A thread that cannot accept any more stops the process (the others
 * finish what they hold): multiwatch starts a fresh worker in its place.
 */
static void stop_the_process(struct server_thread *t)
{
	int rc;

	log_warn("serving thread %d stopped: stopping the worker", t->index);
	atomic_store(&t->srv->thread_failed, true);
	if ((rc = pthread_kill(t->srv->main_thread, SIGTERM)) != 0)
		log_warn("%s: pthread_kill: %s", __func__, strerror(rc));
}

static void serve_requests(struct server_thread *t)
{
	while (!stopping(t->srv)) {
		int rc;

		if (!wait_for_work(t))
			break;
		if (stopping(t->srv))
			break;
		rc = FCGX_Accept_r(&t->req);
		if (rc < 0) {
			if (!accept_error_passes(t, -rc))
				break;
			continue;
		}
		t->accept_pause_ms = 0;
		answer(t);
		if (requeue(t) != 0)
			break;
	}
	if (!stopping(t->srv))
		stop_the_process(t);
}

static void *serve(void *arg)
{
	struct server_thread *t = arg;
	char err[ERR_LEN];

	/*
	 * A database that cannot be opened now (deleted, read-only, settings
	 * not applied) is a fault to answer 503 for, not a reason to exit:
	 * multiwatch would restart the worker at once, count each start as a
	 * crash and soon stop restarting it, leaving no worker when the fault
	 * is gone.  Settings are validated before the pool starts (main.c,
	 * deploy/pool/workers.sh); reconnect_ensure() retries the open on each request.
	 */
	if (reconnect_open(t->app.cfg, &t->app.db, &t->app.db_gen, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	serve_requests(t);
	reconnect_close(&t->app.db, &t->app.db_gen);
	return NULL;
}

/*
 * The thread's own epoll set: the shared listening socket, the stop, and
 * the call to close every connection, edge-triggered: each write to it
 * wakes every thread once, and no thread reads it.
 */
static int watch(struct server_thread *t)
{
	struct epoll_event stop = { .events = EPOLLIN, .data.fd = t->srv->stop_fd };
	struct epoll_event reopen = { .events = EPOLLIN | EPOLLET, .data.fd = t->srv->reopen_fd };

	t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epoll_fd < 0)
		return -1;
	if (watch_listening(t) != 0 ||
	    epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, t->srv->stop_fd, &stop) != 0 ||
	    epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, t->srv->reopen_fd, &reopen) != 0)
		return -1;
	return 0;
}

/* Frees what server_thread_start made; the thread is not running. */
static void thread_free(struct server_thread *t)
{
	FCGX_Free(&t->req, 1);
	/* An epoll set has nothing to flush: close cannot lose anything. */
	if (t->epoll_fd >= 0)
		(void)close(t->epoll_fd);
	explicit_bzero(t->buf.input, sizeof(t->buf.input));
	free(t);
}

struct server_thread *server_thread_start(struct server *srv, int index)
{
	struct server_thread *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		log_warn("%s: thread %d: out of memory", __func__, index);
		return NULL;
	}
	t->index = index;
	t->srv = srv;
	t->app = (struct app){ .cfg = srv->cfg, .db = NULL, .buf = &t->buf,
			       .commit = srv->commit };
	t->epoll_fd = -1;
	/* Its own request: libfcgi keeps no per-request state elsewhere. */
	if (FCGX_InitRequest(&t->req, FCGI_LISTENSOCK_FILENO, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warn("%s: thread %d: FCGX_InitRequest failed", __func__, index);
		thread_free(t);
		return NULL;
	}
	if (watch(t) != 0) {
		log_warn("%s: thread %d: epoll: %s", __func__, index, strerror(errno));
		thread_free(t);
		return NULL;
	}
	if ((rc = pthread_create(&t->id, NULL, serve, t)) != 0) {
		log_warn("%s: thread %d: pthread_create: %s", __func__, index, strerror(rc));
		thread_free(t);
		return NULL;
	}
	return t;
}

long server_thread_join(struct server_thread *t)
{
	long served;
	int rc;

	/* Joining a thread this process started, once: it cannot fail. */
	if ((rc = pthread_join(t->id, NULL)) != 0)
		log_warn("%s: pthread_join: %s", __func__, strerror(rc));
	served = t->served;
	thread_free(t);
	return served;
}
