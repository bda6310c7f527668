#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fastcgi.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"

static volatile sig_atomic_t stop_requested;
static const int stop_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

static void on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	stop_requested = 1;
	FCGX_ShutdownPending();
	/*
	 * Signals are blocked while a request is handled, so this runs only
	 * around accept().  Closing our copy of the listening socket makes an
	 * accept() that is about to start fail at once instead of waiting for
	 * the next client; the other workers keep their copies.  Its result
	 * does not matter: the stop is already requested.
	 */
	(void)close(FCGI_LISTENSOCK_FILENO);
	errno = saved;
}

static int install_signals(sigset_t *stop_set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	/* sa_flags = 0, no SA_RESTART: a blocked accept() returns EINTR. */
	sa.sa_handler = on_stop_signal;
	if (sigemptyset(stop_set) != 0 || sigemptyset(&sa.sa_mask) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigaddset(stop_set, stop_signals[i]) != 0 ||
		    sigaddset(&sa.sa_mask, stop_signals[i]) != 0)
			return -1;
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigaction(stop_signals[i], &sa, NULL) != 0)
			return -1;
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
 * pid read before, as early as the worker can).
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

/* Opens the connection when there is none (after a failure dropped it). */
static void ensure_db(struct app *app)
{
	static time_t last_warning;
	char err[ERR_LEN];
	time_t now;

	if (app->db != NULL)
		return;
	if (db_open(app->cfg, DB_OPEN_SERVE, &app->db, err, sizeof(err)) == DB_OK) {
		log_info("database reopened");
		return;
	}
	/* Once a second at most: a fault can last long under a heavy load. */
	now = time(NULL);
	if (now != last_warning) {
		log_warn("database unavailable: %s", err);
		last_warning = now;
	}
}

/*
 * Replaces a connection whose last failure leaves it of no more use, once
 * the request is answered, in the order the engine asks for: closed now
 * and opened again on the next request (ensure_db), or (SQLite after an
 * I/O error) a new one opened before the old one is closed, falling back
 * to ensure_db when the open fails.
 */
static void replace_broken_db(struct app *app)
{
	struct db *fresh = NULL;
	enum db_reopen how;
	char err[ERR_LEN];

	if (app->db == NULL || (how = db_needs_reopen(app->db)) == DB_REOPEN_NO)
		return;
	log_warn("closing the database connection after: %s (%s, %d)",
		 db_errmsg(app->db), db_errname(app->db), db_errcode(app->db));
	if (how == DB_REOPEN_OPEN_FIRST &&
	    db_open(app->cfg, DB_OPEN_SERVE, &fresh, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	db_close(app->db);
	app->db = fresh;
	if (fresh != NULL)
		log_info("database reopened");
}

/*
 * 503 with the fix when the engine refuses to serve (a file replaced
 * under the pool), after closing the connection, which belongs to the
 * old file.  Returns true when the request was answered.
 */
static bool refuse_if_told(struct app *app, struct http_request *r)
{
	static const char retry_after[] = "Retry-After: 1\r\n";
	char msg[ERR_LEN];

	if (db_refusal(app->cfg, msg, sizeof(msg)) == 0)
		return false;
	if (app->db != NULL) {
		log_warn("closing the database connection: %s", msg);
		db_close(app->db);
		app->db = NULL;
	}
	http_respond_error(r, 503, retry_after, msg);
	return true;
}

/*
 * Out of file descriptors or memory, accept() fails and libfcgi returns
 * the error instead of retrying.  Exiting would hand the problem to
 * multiwatch, which counts quick deaths as a crash loop and may give the
 * slot up: so wait and try again, with a growing pause (10 ms to 1 s)
 * that lets the fault clear without spinning.  Other errors end the loop.
 * Returns true when the caller should accept again.
 */
static long accept_pause_ms;	/* 0 after an accept that worked */

static bool accept_error_passes(int error)
{
	static time_t last_warning;
	struct timespec pause;
	time_t now = time(NULL);

	if (error == EINTR)
		return true;	/* a signal that is not a stop */
	if (error != EMFILE && error != ENFILE && error != ENOMEM && error != ENOBUFS) {
		log_warn("accept failed: %s", strerror(error));
		return false;
	}
	accept_pause_ms = accept_pause_ms == 0 ? 10 : accept_pause_ms >= 500 ? 1000
						      : accept_pause_ms * 2;
	if (now != last_warning) {
		log_warn("accept failed: %s: retrying in %ld ms", strerror(error),
			 accept_pause_ms);
		last_warning = now;
	}
	pause.tv_sec = accept_pause_ms / 1000;
	pause.tv_nsec = (accept_pause_ms % 1000) * 1000000L;
	(void)nanosleep(&pause, NULL);	/* a signal only cuts the pause short */
	return true;
}

/*
 * Blocks (SIG_BLOCK) or unblocks the stop signals.  sigprocmask fails
 * only for an unknown how or a bad pointer (EINVAL, EFAULT): not checked.
 */
static void mask_stop_signals(int how, const sigset_t *stop_set)
{
	(void)sigprocmask(how, stop_set, NULL);
}

static void serve_requests(struct app *app, FCGX_Request *req,
			   const sigset_t *stop_set)
{
	struct http_request r;
	long served = 0;

	while (!stop_requested) {
		int rc = FCGX_Accept_r(req);

		/* Let a stop signal wait until this request is answered. */
		mask_stop_signals(SIG_BLOCK, stop_set);
		if (rc < 0) {
			mask_stop_signals(SIG_UNBLOCK, stop_set);
			if (stop_requested || !accept_error_passes(-rc))
				break;
			continue;
		}
		accept_pause_ms = 0;
		http_request_init(&r, req);
		if (!refuse_if_told(app, &r)) {
			ensure_db(app);
			if (app->db != NULL)
				db_clear_error(app->db);
			routes_dispatch(app, &r);
		}
		/*
		 * Sends what http_respond buffered.  It returns nothing: a write
		 * that fails here (nginx gave up on the client) ends with the
		 * connection, and nginx logs the request.
		 */
		FCGX_Finish_r(req);
		/* After the answer: the client does not wait for the open. */
		replace_broken_db(app);
		served++;
		mask_stop_signals(SIG_UNBLOCK, stop_set);
	}
	log_info("stopping after %ld requests", served);
}

int server_run(const struct config *cfg)
{
	char err[ERR_LEN];
	struct app app = { .cfg = cfg, .db = NULL };
	FCGX_Request req;
	sigset_t stop_set;
	pid_t parent = getppid();

	if (install_signals(&stop_set) != 0) {
		log_warn("%s: installing the signal handlers: %s", __func__, strerror(errno));
		return 1;
	}
	/* After the handlers: the death signal must find them in place. */
	if (die_with_parent(parent) != 0)
		return 1;
	if (FCGX_Init() != 0 || FCGX_IsCGI()) {
		log_warn("fd 0 is not a FastCGI listening socket: start the workers"
			 " with spawn-fcgi (see deploy/pool/workers.sh)");
		return 1;
	}
	/*
	 * A database that cannot be opened now (deleted, read-only, settings
	 * not applied) is a fault to answer 503 for, not a reason to exit:
	 * multiwatch would restart the worker at once, count each start as a
	 * crash and soon stop restarting it, leaving no worker when the fault
	 * is gone.  Settings are validated before the pool starts (main.c,
	 * deploy/pool/workers.sh); ensure_db() retries the open on each request.
	 */
	if (db_open(cfg, DB_OPEN_SERVE, &app.db, err, sizeof(err)) != DB_OK)
		log_warn("database unavailable: %s", err);
	if (FCGX_InitRequest(&req, FCGI_LISTENSOCK_FILENO, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warn("%s: FCGX_InitRequest failed", __func__);
		db_close(app.db);
		return 1;
	}
	/* Metrics help but are not essential: serve without them if need be. */
	if (metrics_open(cfg->metrics_path, err, sizeof(err)) != 0)
		log_warn("serving without metrics: %s", err);
	serve_requests(&app, &req, &stop_set);
	FCGX_Free(&req, 1);
	metrics_close();
	db_close(app.db);
	return 0;
}
