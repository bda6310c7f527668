/*
 * The ceilings /create_user/ is measured against, in this process alone:
 *   hash_ms         the cost of one password hash (HASH_METHOD, HASH_COST)
 *   hashes_per_s    hashes a second with one hashing process per CPU: the
 *                   hash-bound ceiling (memory-hard hashes slow each other)
 *   commits_normal  commits/s of one writer inserting one user per
 *   commits_full    transaction: WAL + synchronous=NORMAL, and WAL + FULL
 * Prints "name=value" lines.  BENCH_SECONDS (default 2) bounds each part;
 * BENCH_HASH_ONLY=1 prints hash_ms alone (make bench's table of formats).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "password.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double hash_ms(const struct config *cfg, double seconds)
{
	char hash[PW_HASH_MAX], err[ERR_LEN];
	double start = now_s();
	int n = 0;

	do {
		if (password_hash(cfg->hash_method, cfg->hash_cost, "benchmark password",
			    hash, sizeof(hash), err, sizeof(err)) != 0) {
			fprintf(stderr, "ceilings: %s\n", err);
			exit(1);
		}
		n++;
	} while (now_s() - start < seconds || n < 5);
	return (now_s() - start) * 1e3 / n;
}

/* One child per CPU hashes for the given time; returns hashes a second in all. */
static double hashes_per_second(const struct config *cfg, double seconds)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fds[2];
	double total = 0;

	if (cpus < 1 || pipe(fds) != 0) {
		perror("ceilings: pipe");
		exit(1);
	}
	for (long i = 0; i < cpus; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("ceilings: fork");
			exit(1);
		}
		if (pid == 0) {
			double one = hash_ms(cfg, seconds);
			double rate = 1000.0 / one;

			_exit(write(fds[1], &rate, sizeof(rate)) == sizeof(rate) ? 0 : 1);
		}
	}
	close(fds[1]);
	for (long i = 0; i < cpus; i++) {
		double rate;

		if (read(fds[0], &rate, sizeof(rate)) != sizeof(rate)) {
			fprintf(stderr, "ceilings: a hashing child failed\n");
			exit(1);
		}
		total += rate;
	}
	close(fds[0]);
	while (wait(NULL) > 0)
		;
	return total;
}

static struct db *open_fresh(struct config *cfg, const char *dir, const char *sync)
{
	char err[ERR_LEN];
	struct db *db = NULL;

	snprintf(cfg->db_path, sizeof(cfg->db_path), "%s/commits-%s.sqlite3", dir, sync);
	cfg->journal = JOURNAL_WAL;
	cfg->sync = strcmp(sync, "full") == 0 ? SYNC_FULL : SYNC_NORMAL;
	cfg->txn = TXN_IMMEDIATE;
	cfg->lock_wait = LOCK_WAIT_SQLITE;
	if (db_open(cfg, DB_OPEN_MIGRATE, &db, err, sizeof(err)) != DB_OK ||
	    db_migrate(db, err, sizeof(err)) != DB_OK) {
		fprintf(stderr, "ceilings: %s\n", err);
		exit(1);
	}
	db_close(db);
	if (db_open(cfg, DB_OPEN_SERVE, &db, err, sizeof(err)) != DB_OK) {
		fprintf(stderr, "ceilings: %s\n", err);
		exit(1);
	}
	return db;
}

/* One INSERT per transaction, as /create_user/ does, with a fixed hash string. */
static double commits_per_second(struct config cfg, const char *dir, const char *sync,
				 double seconds)
{
	struct db *db = open_fresh(&cfg, dir, sync);
	double start = now_s();
	char name[32];
	long n = 0;

	while (now_s() - start < seconds) {
		snprintf(name, sizeof(name), "u%ld", n);
		if (db_begin(db) != DB_OK ||
		    db_user_insert(db, name, "", "$6$x$y") != DB_OK ||
		    db_commit(db) != DB_OK) {
			fprintf(stderr, "ceilings: %s\n", db_errmsg(db));
			exit(1);
		}
		n++;
	}
	double rate = (double)n / (now_s() - start);
	db_close(db);
	return rate;
}

int main(void)
{
	struct config cfg;
	char err[ERR_LEN], dir[] = "/tmp/sqlite-fcgi-ceilings-XXXXXX", cmd[128];
	const char *s = getenv("BENCH_SECONDS");
	double seconds = s ? atof(s) : 2.0;

	if (config_load(&cfg, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "ceilings: %s\n", err);
		return 1;
	}
	if (mkdtemp(dir) == NULL) {
		perror("ceilings: mkdtemp");
		return 1;
	}
	printf("hash_ms=%.3f\n", hash_ms(&cfg, seconds));
	if (getenv("BENCH_HASH_ONLY") != NULL) {
		rmdir(dir);
		return 0;
	}
	printf("hashes_per_s=%.2f\n", hashes_per_second(&cfg, seconds));
	printf("commits_normal=%.0f\n", commits_per_second(cfg, dir, "normal", seconds));
	printf("commits_full=%.0f\n", commits_per_second(cfg, dir, "full", seconds));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
