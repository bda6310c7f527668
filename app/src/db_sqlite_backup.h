#ifndef SQLITE_FCGI_DB_SQLITE_BACKUP_H
#define SQLITE_FCGI_DB_SQLITE_BACKUP_H

#include <stddef.h>

#include "config.h"

/*
 * Online backup and restore of the SQLite database with SQLite's backup
 * API, safe while the worker pool serves.  Each call opens connections of
 * its own (they are separate subcommands, not part of a worker).  Both
 * return 0, or -1 with err saying why; neither leaves a half-written file
 * behind.
 */

/*
 * Copies DB_PATH (db_path), as of one read snapshot, into a temporary file beside
 * dest, checks it with integrity_check, makes it a single file (journal
 * mode DELETE), syncs it, renames it to dest and syncs the directory.
 * The copy gets db_path's mode (and owner, when run as root).  wait_ms
 * bounds the whole call's waits for locks held by other connections.
 */
int sq_backup_to(const struct config *cfg, const char *dest, int wait_ms,
		 char *err, size_t errlen);

/*
 * Replaces the content of the live database at DB_PATH with src's, in one
 * write transaction that the workers see all at once.  src must pass
 * integrity_check and hold the same schema version as DB_PATH, with its
 * auth_user table; otherwise nothing is written.  wait_ms bounds the
 * whole call's waits for locks.
 */
int sq_restore_from(const struct config *cfg, const char *src, int wait_ms,
		    char *err, size_t errlen);

#endif
