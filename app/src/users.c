#include "users.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "metrics.h"
#include "password.h"

#define RANDOM_USERNAME_LEN 10
#define RANDOM_PASSWORD_LEN 16
/* 62^10 names: a collision is rare, several in a row mean a bug. */
#define RANDOM_NAME_TRIES 8

static const char alnum[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* Fills out[0..n) with random letters and digits, without modulo bias. */
static int random_alnum(char *out, size_t n)
{
	unsigned char bytes[64];
	size_t o = 0;

	while (o < n) {
		ssize_t got = getrandom(bytes, sizeof(bytes), 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (ssize_t i = 0; i < got && o < n; i++)
			if (bytes[i] < 248)	/* 248 = 4 * 62 */
				out[o++] = alnum[bytes[i] % 62];
	}
	explicit_bzero(bytes, sizeof(bytes));
	return 0;
}

static int random_username(struct user_input *in)
{
	if (random_alnum(in->username, RANDOM_USERNAME_LEN) != 0)
		return -1;
	in->username[RANDOM_USERNAME_LEN] = '\0';
	in->f_username = (struct input_field){ .len = RANDOM_USERNAME_LEN, .present = true };
	in->f_email.len = (size_t)snprintf(in->email, sizeof(in->email),
					   "%s@example.com", in->username);
	in->f_email.present = true;
	return 0;
}

int users_random_input(struct user_input *in)
{
	input_init(in);
	if (random_username(in) != 0 ||
	    random_alnum(in->password, RANDOM_PASSWORD_LEN) != 0)
		return -1;
	in->password[RANDOM_PASSWORD_LEN] = '\0';
	in->f_password = (struct input_field){ .len = RANDOM_PASSWORD_LEN, .present = true };
	return 0;
}

static enum users_result from_db(struct db *db, enum db_result res,
				 const char *step, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s (%s, %d)", step, db_errmsg(db),
		 db_errname(db), db_errcode(db));
	switch (res) {
	case DB_BUSY:
		metrics_count_busy(db_errname(db));
		return USERS_BUSY;
	case DB_CONSTRAINT: return USERS_TAKEN;
	case DB_INTEGRITY: return USERS_INTERNAL;	/* a 500, logged with err */
	default: return USERS_DB_ERROR;
	}
}

/* Inserts in, drawing a new random name while a random one collides. */
static enum db_result insert_user(struct db *db, struct user_input *in,
				  int random, const char *hash)
{
	enum db_result res;
	const char *email = in->f_email.present ? in->email : "";
	int tries = 0;

	while ((res = db_user_insert(db, in->username, email, hash)) == DB_CONSTRAINT &&
	       random && ++tries < RANDOM_NAME_TRIES) {
		if (random_username(in) != 0)
			break;
	}
	return res;
}

static enum users_result hash_password(const struct config *cfg,
				       struct user_input *in, char *hash,
				       char *err, size_t errlen)
{
	uint64_t start = metrics_now_ns();
	int rc = pw_hash(cfg->hash_method, cfg->hash_cost, in->password, hash,
			 PW_HASH_MAX, err, errlen);

	metrics_observe(HIST_HASH, metrics_now_ns() - start);
	input_wipe(in);
	return rc == 0 ? USERS_OK : USERS_INTERNAL;
}

static enum users_result create_in_txn(struct db *db, const struct config *cfg,
				       struct user_input *in, int random,
				       char *hash, struct users_created *out,
				       char *err, size_t errlen)
{
	enum db_result res;
	enum users_result ures;
	int nread;
	uint64_t start = metrics_now_ns();

	res = db_begin(db);
	/* With BEGIN IMMEDIATE this is the wait for the write lock. */
	metrics_observe(HIST_LOCK_WAIT, metrics_now_ns() - start);
	if (res != DB_OK)
		return from_db(db, res, "begin", err, errlen);
	if ((res = db_users_read_recent(db, &nread)) != DB_OK)
		return from_db(db, res, "read users", err, errlen);
	/* The seed's order: the hash runs while the transaction is open. */
	if (cfg->hash_when == HASH_INSIDE_TXN &&
	    (ures = hash_password(cfg, in, hash, err, errlen)) != USERS_OK)
		return ures;
	if ((res = insert_user(db, in, random, hash)) != DB_OK)
		return from_db(db, res, "insert user", err, errlen);
	if ((res = db_user_count(db, &out->num_users)) != DB_OK)
		return from_db(db, res, "count users", err, errlen);
	if ((res = db_commit(db)) != DB_OK)
		return from_db(db, res, "commit", err, errlen);
	return USERS_OK;
}

enum users_result users_create(struct db *db, const struct config *cfg,
			       struct user_input *in, int random,
			       struct users_created *out, char *err,
			       size_t errlen)
{
	char hash[PW_HASH_MAX];
	struct users_created made = { .num_users = 0 };
	enum users_result ures = USERS_OK;

	/* The fix: hash first, so the write lock is held for microseconds. */
	if (cfg->hash_when == HASH_BEFORE_BEGIN)
		ures = hash_password(cfg, in, hash, err, errlen);
	if (ures == USERS_OK)
		ures = create_in_txn(db, cfg, in, random, hash, &made, err, errlen);
	if (ures != USERS_OK) {
		db_rollback(db);
		input_wipe(in);
		return ures;
	}
	memcpy(made.username, in->username, in->f_username.len + 1);
	*out = made;
	return USERS_OK;
}
