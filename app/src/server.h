#ifndef SQLITE_FCGI_SERVER_H
#define SQLITE_FCGI_SERVER_H

#include "config.h"

/*
 * The worker: accepts FastCGI requests on the listening socket inherited
 * on fd 0 (spawn-fcgi's FCGI_LISTENSOCK_FILENO) and answers them one at a
 * time until SIGTERM, SIGINT, SIGHUP or SIGUSR1 (multiwatch's graceful
 * signal) asks it to stop; a request in flight is finished first.
 * Returns the process's exit status.
 */
int server_run(const struct config *cfg);

#endif
