#ifndef SQLITE_FCGI_BACKUP_H
#define SQLITE_FCGI_BACKUP_H

#include "config.h"

/*
 * The backup and restore subcommands (argv after the subcommand's name):
 *
 *   sqlite-fcgi backup DEST [--keep N] [--wait SECONDS]
 *       a consistent copy of DB_PATH at DEST, taken while the pool serves,
 *       with the database's mode (and owner, as root); with --keep N the
 *       copy is DEST.YYYYMMDDTHHMMSSZ (UTC) and only the newest N such
 *       copies are kept
 *   sqlite-fcgi restore SRC [--wait SECONDS]
 *       replaces the content of DB_PATH with SRC's in one transaction,
 *       after checking SRC's integrity and schema; safe while the pool serves
 *
 * --wait (default 30) bounds, in all, the waits for locks that other
 * connections hold.  Each returns the process's exit status: 0, 1 on
 * failure (with a message on stderr), 2 on bad usage, which includes a
 * DEST or SRC that is the live database or one of its files, and a
 * DATABASE_URL that names PostgreSQL (pg_dump is its backup).
 */
int backup_main(const struct config *cfg, int argc, char **argv);
int restore_main(const struct config *cfg, int argc, char **argv);

#endif
