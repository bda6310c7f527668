#include "users.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "log.h"
#include "metrics.h"
#include "password.h"
#include "random_text.h"

#define RANDOM_USERNAME_LEN 10
#define RANDOM_PASSWORD_LEN 16
/* 62^10 names: a collision is rare, several in a row mean a bug. */
#define RANDOM_NAME_TRIES 8
/*
 * Runs of a transaction the engine rolled back as a serialization failure
 * or a deadlock (PostgreSQL; DB_RETRY).  Such a failure says that running
 * it again will likely succeed; a few times in a row means contention to
 * answer 503 for, not to loop on.
 */
#define TXN_TRIES 3

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

/* Keeps res, the failure of step, with db's error in *fail. */
static enum users_result step_failed(struct db *db, enum db_result res,
				     const char *step, struct db_failure *fail)
{
	db_failure_set(fail, res, step, db);
	return USERS_DB_FAILED;
}

/*
 * A run the engine rolled back (DB_RETRY) that runs again: the database's
 * busy answer counted, as the last run's is when it is answered 503.
 */
static void rolled_back(int run, const struct db_failure *f)
{
	metrics_count_busy(f->name);
	log_warn("create_user: run %d of %d rolled back: %s: %s (%s, %d)", run, TXN_TRIES,
		 f->step, f->msg, f->name, f->code);
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
	int rc = password_hash(cfg->hash_method, cfg->hash_cost, in->password, hash,
			       PW_HASH_MAX, err, errlen);

	metrics_observe(HIST_HASH, metrics_now_ns() - start);
	input_wipe(in);
	return rc == 0 ? USERS_OK : USERS_INTERNAL;
}

/*
 * One run of the transaction.  *hashed says whether hash holds the hash
 * already (a second run must not hash the wiped password); *fail gets the
 * failure of the step that failed.
 */
static enum users_result create_in_txn(struct db *db, const struct config *cfg,
				       struct user_input *in, int random,
				       char *hash, bool *hashed,
				       struct users_created *out,
				       struct db_failure *fail, char *err,
				       size_t errlen)
{
	enum db_result res;
	enum users_result ures;
	int nread;
	uint64_t start = metrics_now_ns();

	res = db_begin(db);
	/* With BEGIN IMMEDIATE this is the wait for the write lock. */
	metrics_observe(HIST_LOCK_WAIT, metrics_now_ns() - start);
	if (res != DB_OK)
		return step_failed(db, res, "begin", fail);
	if ((res = db_users_read_recent(db, &nread)) != DB_OK)
		return step_failed(db, res, "read users", fail);
	/* The seed's order: the hash runs while the transaction is open. */
	if (!*hashed) {
		if ((ures = hash_password(cfg, in, hash, err, errlen)) != USERS_OK)
			return ures;
		*hashed = true;
	}
	if ((res = insert_user(db, in, random, hash)) != DB_OK)
		return step_failed(db, res, "insert user", fail);
	if ((res = db_user_count(db, &out->num_users)) != DB_OK)
		return step_failed(db, res, "count users", fail);
	if ((res = db_commit(db)) != DB_OK)
		return step_failed(db, res, "commit", fail);
	return USERS_OK;
}

enum users_result users_create(struct db *db, const struct config *cfg,
			       struct user_input *in, int random,
			       struct users_created *out, struct db_failure *fail,
			       char *err, size_t errlen)
{
	char hash[PW_HASH_MAX];
	struct users_created made = { .num_users = 0 };
	enum users_result ures = USERS_OK;
	bool hashed = false;

	/* The fix: hash first, so the write lock is held for microseconds. */
	if (cfg->hash_when == HASH_BEFORE_BEGIN) {
		ures = hash_password(cfg, in, hash, err, errlen);
		hashed = true;
	}
	for (int run = 1; ures == USERS_OK; run++) {
		ures = create_in_txn(db, cfg, in, random, hash, &hashed, &made,
				     fail, err, errlen);
		if (ures != USERS_DB_FAILED || fail->res != DB_RETRY || run == TXN_TRIES)
			break;
		rolled_back(run, fail);
		db_rollback(db);
		ures = USERS_OK;
	}
	explicit_bzero(hash, sizeof(hash));
	if (ures != USERS_OK) {
		db_rollback(db);
		input_wipe(in);
		return ures;
	}
	memcpy(made.username, in->username, in->f_username.len + 1);
	*out = made;
	return USERS_OK;
}

/* A user's part of a shared transaction (group commit): the seed's steps. */
struct create_job {
	struct user_input *in;
	int random;
	const char *hash;
	const char *step;	/* the step running, or that failed */
	long long num_users;
};

static enum db_result create_work(struct db *db, void *arg)
{
	struct create_job *job = arg;
	enum db_result res;
	int nread;

	job->step = "read users";
	if ((res = db_users_read_recent(db, &nread)) != DB_OK)
		return res;
	job->step = "insert user";
	if ((res = insert_user(db, job->in, job->random, job->hash)) != DB_OK)
		return res;
	/* The count this user's insert made: a batch's users count on from it. */
	job->step = "count users";
	return db_user_count(db, &job->num_users);
}

/* Queues the job until a batch commits it, again after a DB_RETRY. */
static enum db_result create_grouped(struct commit_queue *q, struct create_job *job,
				     struct db_failure *fail)
{
	enum db_result res = DB_OK;

	for (int run = 1; run <= TXN_TRIES; run++) {
		res = commit_run(q, create_work, job, fail);
		if (res != DB_OK && fail->step == NULL)
			fail->step = job->step;
		if (res != DB_RETRY || run == TXN_TRIES)
			break;
		rolled_back(run, fail);
	}
	return res;
}

enum users_result users_create_grouped(struct commit_queue *q, const struct config *cfg,
				       struct user_input *in, int random,
				       struct users_created *out, struct db_failure *fail,
				       char *err, size_t errlen)
{
	char hash[PW_HASH_MAX];
	struct create_job job = { .in = in, .random = random, .hash = hash,
				  .step = "begin", .num_users = 0 };
	enum users_result ures = hash_password(cfg, in, hash, err, errlen);
	enum db_result res;

	if (ures != USERS_OK) {
		explicit_bzero(hash, sizeof(hash));
		return ures;
	}
	/* hash_password wiped the password already: only the hash is left to wipe. */
	res = create_grouped(q, &job, fail);
	explicit_bzero(hash, sizeof(hash));
	if (res != DB_OK)
		return USERS_DB_FAILED;
	memcpy(out->username, in->username, in->f_username.len + 1);
	out->num_users = job.num_users;
	return USERS_OK;
}
