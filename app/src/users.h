#ifndef SQLITE_FCGI_USERS_H
#define SQLITE_FCGI_USERS_H

#include <stddef.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "input.h"

/*
 * The create_user operation of the seed's view: in one transaction, read up
 * to 10 users, insert a new one, count the users.  Where the password is
 * hashed (before BEGIN or inside the transaction) and how BEGIN takes its
 * lock come from the configuration.
 */

enum users_result {
	USERS_OK,
	USERS_DB_FAILED,	/* the database failed, as the struct db_failure says:
				   nothing written, unless its result is DB_UNKNOWN
				   (COMMIT unconfirmed: the user may exist) */
	USERS_INTERNAL		/* hashing failed, as err says: nothing written */
};


struct users_created {
	char username[INPUT_USERNAME_MAX + 1];
	long long num_users;
};

/*
 * Fills in with a random 10-character username of letters and digits, the
 * email <username>@example.com and a random password.  Returns 0, or -1
 * with errno set when the OS's random source fails.
 */
int users_random_input(struct user_input *in);

/*
 * Creates the user described by in (already validated), or a random one
 * when random is set, retrying a random username that collides.  Either the
 * whole user is committed and *out filled, or nothing is written: *fail
 * gets the database's failure (DB_CONSTRAINT: the username is taken), err
 * the cause of an internal one.  A transaction the engine rolled back as
 * worth running again (DB_RETRY) runs again, a few times.  The password in
 * in is wiped.
 */
enum users_result users_create(struct db *db, const struct config *cfg,
			       struct user_input *in, int random,
			       struct users_created *out, struct db_failure *fail,
			       char *err, size_t errlen);

struct commit_queue;

/*
 * users_create with GROUP_COMMIT=on: the password hashed here, then the
 * seed's steps (read, insert, count) run in the next shared transaction of
 * q (commit.h), in a savepoint of their own; returns once that transaction
 * committed or failed.  out->num_users is the count this user's insert
 * made.  The settings must hash before BEGIN (config.c sees to it).
 */
enum users_result users_create_grouped(struct commit_queue *q, const struct config *cfg,
				       struct user_input *in, int random,
				       struct users_created *out, struct db_failure *fail,
				       char *err, size_t errlen);

#endif
