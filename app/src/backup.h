#ifndef SQLITE_FCGI_BACKUP_H
#define SQLITE_FCGI_BACKUP_H

#include "config.h"

/*
 * The backup and restore subcommands (argv after the subcommand's name):
 *
 *   sqlite-fcgi backup DEST [--keep N]
 *       a consistent copy of DB_PATH at DEST, taken while the pool serves;
 *       with --keep N the copy is DEST.YYYYMMDDTHHMMSSZ (UTC) and only the
 *       newest N such copies are kept
 *   sqlite-fcgi restore SRC
 *       replaces the content of DB_PATH with SRC's in one transaction,
 *       after checking SRC's integrity and schema; safe while the pool serves
 *
 * Each returns the process's exit status: 0, 1 on failure (with a message
 * on stderr), 2 on bad usage.
 */
int backup_main(const struct config *cfg, int argc, char **argv);
int restore_main(const struct config *cfg, int argc, char **argv);

#endif
