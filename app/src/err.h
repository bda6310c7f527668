#ifndef SQLITE_FCGI_ERR_H
#define SQLITE_FCGI_ERR_H

/*
 * The size of every error-message buffer a caller hands in (err, errlen):
 * one log line.  Messages go from module to module (a database error into
 * a users error into a log line), so they share one size.
 */
#define ERR_LEN 256

#endif
