#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_sqlite_backup.h"
#include "err.h"
#include "log.h"

#define STAMP_LEN 16		/* YYYYMMDDTHHMMSSZ */
#define KEEP_MAX 100000

/* A backup waits this long at most for a worker's lock (one commit is ms). */
#define BACKUP_BUSY_MS 30000

static int parse_keep(const char *v, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 1 || n > KEEP_MAX)
		return -1;
	*out = n;
	return 0;
}

/* DEST.YYYYMMDDTHHMMSSZ, the time of now in UTC. */
static int stamped_name(const char *dest, char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[STAMP_LEN + 1];

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) != STAMP_LEN)
		return -1;
	return snprintf(out, len, "%s.%s", dest, stamp) < (int)len ? 0 : -1;
}

/* name is base + "." + a stamp as stamped_name makes it. */
static int is_stamped(const char *name, const char *base)
{
	size_t n = strlen(base);
	const char *s = name + n + 1;

	if (strncmp(name, base, n) != 0 || name[n] != '.' || strlen(s) != STAMP_LEN ||
	    s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (int i = 0; i < STAMP_LEN; i++)
		if (i != 8 && i != 15 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in dir of base's stamped copies, in *names (*n of them, each
 * to free).  -1, logged, when the directory cannot be read whole.
 */
static int list_stamped(const char *dir, const char *base, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int ret = 0;

	if (d == NULL) {
		log_warn("backup: %s: %s", dir, strerror(errno));
		return -1;
	}
	/* readdir returns NULL at the end and on an error: errno tells which. */
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (!is_stamped(e->d_name, base))
			continue;
		if (*n == cap) {
			char **grown = realloc(*names, (cap = cap ? cap * 2 : 16) * sizeof(**names));

			if (grown == NULL)
				break;
			*names = grown;
		}
		if (((*names)[*n] = strdup(e->d_name)) == NULL)
			break;
		(*n)++;
	}
	if (errno != 0) {
		log_warn("backup: reading %s: %s", dir, strerror(errno));
		ret = -1;
	}
	(void)closedir(d);	/* read only: nothing is lost if it fails */
	return ret;
}

/* Deletes all but the newest keep stamped copies of dest (names sort by time). */
static int prune(const char *dest, long keep)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
	const char *slash = strrchr(dest, '/'), *base = slash ? slash + 1 : dest;
	char **names = NULL;
	size_t n = 0;
	int ret;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dest)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - dest), dest);
	ret = list_stamped(dir, base, &names, &n);
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	for (size_t i = 0; ret == 0 && i + (size_t)keep < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path) ||
		    unlink(path) != 0) {
			log_warn("backup: removing %s: %s", path, strerror(errno));
			ret = -1;
		} else {
			log_info("backup: removed %s (keeping %ld)", path, keep);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int backup_main(const struct config *cfg, int argc, char **argv)
{
	char err[ERR_LEN], target[PATH_MAX];
	const char *dest = NULL;
	long keep = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
			if (parse_keep(argv[++i], &keep) != 0) {
				fprintf(stderr, "sqlite-fcgi: --keep %s: must be a whole number"
					" from 1 to %d\n", argv[i], KEEP_MAX);
				return 2;
			}
		} else if (dest == NULL && argv[i][0] != '-') {
			dest = argv[i];
		} else {
			fprintf(stderr, "usage: sqlite-fcgi backup DEST [--keep N]\n");
			return 2;
		}
	}
	if (dest == NULL) {
		fprintf(stderr, "usage: sqlite-fcgi backup DEST [--keep N]\n");
		return 2;
	}
	if (keep > 0 ? stamped_name(dest, target, sizeof(target)) != 0
		     : snprintf(target, sizeof(target), "%s", dest) >= (int)sizeof(target)) {
		log_warn("backup: %s: path too long", dest);
		return 1;
	}
	if (sqlite_backup_to(cfg->db_path, target, BACKUP_BUSY_MS, err, sizeof(err)) != 0) {
		log_warn("backup: %s", err);
		return 1;
	}
	log_info("backup: %s copied to %s (integrity ok)", cfg->db_path, target);
	return keep > 0 && prune(dest, keep) != 0 ? 1 : 0;
}

int restore_main(const struct config *cfg, int argc, char **argv)
{
	char err[ERR_LEN];

	if (argc != 1 || argv[0][0] == '-') {
		fprintf(stderr, "usage: sqlite-fcgi restore SRC\n");
		return 2;
	}
	if (sqlite_restore_from(cfg->db_path, argv[0], BACKUP_BUSY_MS, err, sizeof(err)) != 0) {
		log_warn("restore: %s", err);
		return 1;
	}
	log_info("restore: %s now holds the content of %s (integrity ok)", cfg->db_path, argv[0]);
	return 0;
}
