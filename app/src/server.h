#ifndef SQLITE_FCGI_SERVER_H
#define SQLITE_FCGI_SERVER_H

#include "config.h"

/*
 * The worker: accepts FastCGI requests on the listening socket inherited
 * on fd 0 (spawn-fcgi's FCGI_LISTENSOCK_FILENO) with WORKER_THREADS
 * threads, each answering one request at a time on its own database
 * connection, until SIGTERM, SIGINT, SIGHUP or SIGUSR1 (multiwatch's
 * graceful signal) asks it to stop; every request in flight is finished
 * first.  Returns the process's exit status.
 */
int server_run(const struct config *cfg);

#endif
