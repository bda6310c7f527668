#include "db_pg_conn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "monotonic.h"

/*
 * Every wait of a worker for the PostgreSQL server, bounded by the
 * request's deadline (DB_DEADLINE_MS).  libpq's PQexec waits as long as
 * the socket stays open, and a network that drops packets without a reset
 * keeps it open for the kernel's retransmission timeout (15 minutes):
 * here a statement is sent, and its answer waited for with poll() until
 * the deadline, after which the connection is given up (p->broken).  The
 * server's own timeouts (lock_timeout, statement_timeout) come first when
 * the server is reachable; this one catches a network that stopped
 * answering.
 */

/*
 * The waits end this much before DB_DEADLINE_MS, which is the promise for
 * the answer: the rest is for the hash before BEGIN, writing the answer and
 * nginx passing it on.
 */
#define ANSWER_RESERVE_MS 500

/* The end of the waits of what started at start_ns. */
static uint64_t deadline_after(const struct db_pg *p, uint64_t start_ns)
{
	return start_ns + (uint64_t)(p->cfg->db_deadline_ms - ANSWER_RESERVE_MS) * 1000000u;
}

void pg_deadline_start(struct db_pg *p)
{
	p->deadline_kept = false;
	/* sqlite-fcgi migrate: its statements take as long as the table needs. */
	p->deadline_ns = p->mode == DB_OPEN_MIGRATE ? UINT64_MAX : deadline_after(p, monotonic_ns());
}

void pg_deadline_from(struct db_pg *p, uint64_t start_ns)
{
	p->deadline_ns = deadline_after(p, start_ns);
	p->deadline_kept = true;
}

void pg_deadline_start_request(struct db_pg *p)
{
	/*
	 * A deadline the caller set (pg_deadline_from: the request's arrival,
	 * or the oldest request of a shared transaction) holds for all of the
	 * request, a transaction run again included, passed or not: a request
	 * that is late already fails its first wait at once.  The caller sets
	 * the next request's.  Without one (the command line), a new one.
	 */
	if (!p->deadline_kept)
		pg_deadline_start(p);
}

long pg_deadline_left_ms(const struct db_pg *p)
{
	uint64_t now = monotonic_ns();

	return now >= p->deadline_ns ? 0 : (long)((p->deadline_ns - now) / 1000000u);
}

/* Waits until the socket is readable; false when the deadline passed first. */
static bool wait_readable(struct db_pg *p)
{
	struct pollfd pfd = { .fd = PQsocket(p->conn), .events = POLLIN };

	for (;;) {
		long left = pg_deadline_left_ms(p);
		int rc;

		if (left <= 0)
			return false;
		rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return true;	/* PQconsumeInput will report the socket's error */
	}
}

static PGresult *deadline_passed(struct db_pg *p, PGresult *partial)
{
	PQclear(partial);
	p->broken = true;
	p->deadline_passed = true;
	return NULL;
}

/*
 * The answer to the command sent, as PQexec gives it: the last result, or
 * the first error.  NULL when the connection failed (PQerrorMessage says
 * why) or the deadline passed (p->deadline_passed).
 */
static PGresult *await_result(struct db_pg *p)
{
	PGresult *kept = NULL, *res;

	for (;;) {
		while (PQisBusy(p->conn)) {
			if (!wait_readable(p))
				return deadline_passed(p, kept);
			if (!PQconsumeInput(p->conn)) {
				PQclear(kept);
				return NULL;
			}
		}
		if ((res = PQgetResult(p->conn)) == NULL)
			return kept;
		if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(kept);
		kept = res;
	}
}

PGresult *pg_run_sql(struct db_pg *p, const char *sql)
{
	if (p->broken || !PQsendQuery(p->conn, sql))
		return NULL;
	return await_result(p);
}

PGresult *pg_run_params(struct db_pg *p, const char *sql, int nparams,
			const char *const *params)
{
	if (p->broken || !PQsendQueryParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	return await_result(p);
}

PGresult *pg_run_named(struct db_pg *p, const char *name, int nparams,
		       const char *const *params)
{
	if (p->broken || !PQsendQueryPrepared(p->conn, name, nparams, params, NULL, NULL, 0))
		return NULL;
	return await_result(p);
}

PGresult *pg_run_prepare(struct db_pg *p, const char *name, const char *sql, int nparams)
{
	if (p->broken || !PQsendPrepare(p->conn, name, sql, nparams, NULL))
		return NULL;
	return await_result(p);
}

/*
 * The server's notices: dropped ("already exists, skipping"), but a
 * WARNING is remembered, since COMMIT answers success with one when its
 * wait for the synchronous standby was cancelled (the commit is then on
 * this server only: pg_commit reports it as not confirmed).
 */
void pg_notice_received(void *arg, const PGresult *res)
{
	struct db_pg *p = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (severity == NULL || strcmp(severity, "WARNING") != 0)
		return;
	p->warned = true;
	snprintf(p->warning, sizeof(p->warning), "%s", msg != NULL ? msg : "a warning");
}
