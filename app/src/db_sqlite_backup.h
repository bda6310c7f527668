#ifndef SQLITE_FCGI_DB_SQLITE_BACKUP_H
#define SQLITE_FCGI_DB_SQLITE_BACKUP_H

#include <stddef.h>

/*
 * Online backup and restore of the SQLite database with SQLite's backup
 * API, safe while the worker pool serves.  Each call opens connections of
 * its own (they are separate subcommands, not part of a worker).  Both
 * return 0, or -1 with err saying why; neither leaves a half-written file
 * behind.
 */

/*
 * Copies db_path, as of one read snapshot, into a temporary file beside
 * dest, checks it with integrity_check, makes it a single file (journal
 * mode DELETE), syncs it, renames it to dest and syncs the directory.
 * The copy gets db_path's mode (and owner, when run as root).  wait_ms
 * bounds the whole call's waits for locks held by other connections.
 */
int sqlite_backup_to(const char *db_path, const char *dest, int wait_ms,
		     char *err, size_t errlen);

/*
 * Replaces the content of the live database db_path with src's, in one
 * write transaction that the workers see all at once.  src must pass
 * integrity_check and hold the same schema version as db_path, with its
 * auth_user table; otherwise nothing is written.  wait_ms bounds the
 * whole call's waits for locks.
 */
int sqlite_restore_from(const char *db_path, const char *src, int wait_ms,
			char *err, size_t errlen);

#endif
