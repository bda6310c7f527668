#ifndef SQLITE_FCGI_SERVER_THREAD_H
#define SQLITE_FCGI_SERVER_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"

/*
 * One serving thread of a worker process (server.c starts WORKER_THREADS
 * of them): its own FastCGI request, database connection and buffers.  It
 * accepts on the listening socket the pool shares, answers, and accepts
 * again, until the process stops; a request it has accepted is always
 * answered first.
 */

/* What the serving threads of a worker share; server.c owns it. */
struct server {
	const struct config *cfg;
	/* An eventfd, readable once a stop is asked for: wakes idle threads. */
	int stop_fd;
	/* An eventfd written to when every connection must close (reconnect.h). */
	int reopen_fd;
	atomic_bool stopping;
	atomic_int in_flight;		/* requests accepted and not yet answered */
	atomic_bool thread_failed;	/* a thread stopped serving on its own */
	pthread_t main_thread;		/* told with SIGTERM when one does */
	/* GROUP_COMMIT=on: the queue the threads' writes share; NULL: off. */
	struct commit_queue *commit;
};

struct server_thread;

/*
 * Starts a serving thread (index: for the log).  Returns NULL, logged,
 * when it cannot be started.
 */
struct server_thread *server_thread_start(struct server *srv, int index);

/* Waits for t to end and frees it; returns the requests it answered. */
long server_thread_join(struct server_thread *t);

#endif
