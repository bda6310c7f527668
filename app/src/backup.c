#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "log.h"

#define STAMP_LEN 16		/* YYYYMMDDTHHMMSSZ */
#define KEEP_MAX 100000

/*
 * How long a backup or restore waits at most, in all, for locks held by
 * other connections (one commit of a worker takes milliseconds): --wait.
 */
#define WAIT_DEFAULT_S 30
#define WAIT_MAX_S 3600

static const char backup_usage[] =
	"usage: sqlite-fcgi backup DEST [--keep N] [--wait SECONDS]\n";
static const char restore_usage[] = "usage: sqlite-fcgi restore SRC [--wait SECONDS]\n";

struct backup_args {
	const char *path;	/* DEST or SRC */
	long keep;		/* 0: no --keep */
	long wait_s;
};

/* A whole number in [min, max]: 0 into *out, else -1. */
static int parse_whole(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/*
 * Applies option argv[*i] (and its value): 0, 1 for an option it does not
 * know (or one without its value), 2 for a bad value, with the reason printed.
 */
static int parse_option(int argc, char **argv, int *i, bool with_keep,
			struct backup_args *a)
{
	const char *name = argv[*i];
	bool keep = with_keep && strcmp(name, "--keep") == 0;

	if ((!keep && strcmp(name, "--wait") != 0) || *i + 1 >= argc)
		return 1;
	(*i)++;
	if (keep && parse_whole(argv[*i], 1, KEEP_MAX, &a->keep) != 0) {
		fprintf(stderr, "sqlite-fcgi: --keep %s: must be a whole number"
			" from 1 to %d\n", argv[*i], KEEP_MAX);
		return 2;
	}
	if (!keep && parse_whole(argv[*i], 0, WAIT_MAX_S, &a->wait_s) != 0) {
		fprintf(stderr, "sqlite-fcgi: --wait %s: must be a whole number of seconds"
			" from 0 to %d\n", argv[*i], WAIT_MAX_S);
		return 2;
	}
	return 0;
}

/* The path and options after the subcommand; 0, or 2 after the usage. */
static int parse_args(int argc, char **argv, bool with_keep, struct backup_args *a)
{
	*a = (struct backup_args){ .path = NULL, .keep = 0, .wait_s = WAIT_DEFAULT_S };
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '-') {
			int bad = parse_option(argc, argv, &i, with_keep, a);

			if (bad == 2)
				return 2;
			if (bad == 0)
				continue;
		} else if (a->path == NULL) {
			a->path = argv[i];
			continue;
		}
		a->path = NULL;
		break;
	}
	if (a->path != NULL)
		return 0;
	fputs(with_keep ? backup_usage : restore_usage, stderr);
	return 2;
}

/* 2 with the tool to use, when the engine has no backup of its own here. */
static int refuse_engine(const struct config *cfg, const char *cmd)
{
	char why[ERR_LEN];

	if (db_backup_refusal(cfg, why, sizeof(why)) == 0)
		return 0;
	log_warn("%s: refused: %s", cmd, why);
	return 2;
}

/* The directory part of path into dir; the last name in *base. */
static void split_path(const char *path, char *dir, size_t len, const char **base)
{
	const char *slash = strrchr(path, '/');

	*base = slash ? slash + 1 : path;
	if (slash == NULL)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static bool same_inode(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * True when a and b name one file: the same file now (another name, a
 * link), or the same name in the same directory (one that does not exist
 * yet, reached by another path).
 */
static bool same_file(const char *a, const char *b)
{
	char da[PATH_MAX], db[PATH_MAX];
	const char *ba, *bb;

	if (same_inode(a, b))
		return true;
	split_path(a, da, sizeof(da), &ba);
	split_path(b, db, sizeof(db), &bb);
	return strcmp(ba, bb) == 0 && same_inode(da, db);
}

/* The files of the live database: DB_PATH and those beside it. */
static const char *const live_suffixes[] = {
	"", CONFIG_WAL_SUFFIX, CONFIG_SHM_SUFFIX, CONFIG_JOURNAL_SUFFIX,
	CONFIG_WRITELOCK_SUFFIX, CONFIG_REPLACED_SUFFIX,
};

/*
 * The live file path names (DB_PATH, one of its side files, or
 * METRICS_PATH) into live, or false when it names none of them.
 */
static bool names_live_file(const struct config *cfg, const char *path, char *live,
			    size_t len)
{
	for (size_t i = 0; i < sizeof(live_suffixes) / sizeof(live_suffixes[0]); i++) {
		snprintf(live, len, "%s%s", cfg->db_path, live_suffixes[i]);
		if (same_file(path, live))
			return true;
	}
	snprintf(live, len, "%s", cfg->metrics_path);
	return same_file(path, live);
}

/* 2 with the reason when path is one of the live database's files. */
static int refuse_live_file(const struct config *cfg, const char *cmd, const char *path,
			    const char *instead)
{
	char live[PATH_MAX + 16];

	if (!names_live_file(cfg, path, live, sizeof(live)))
		return 0;
	log_warn("%s: refused: %s is %s, %s (DB_PATH=%s): %s", cmd, path, live,
		 strcmp(live, cfg->db_path) == 0 ? "the live database itself"
						 : "a file of the live database",
		 cfg->db_path, instead);
	return 2;
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

/*
 * Deletes all but the newest keep stamped copies of dest (names sort by
 * time); never a file of the live database that happens to look like one.
 */
static int prune(const struct config *cfg, const char *dest, long keep)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 2], live[PATH_MAX + 16];
	const char *base;
	char **names = NULL;
	size_t n = 0;
	int ret;

	split_path(dest, dir, sizeof(dir), &base);
	ret = list_stamped(dir, base, &names, &n);
	if (n > 0)
		qsort(names, n, sizeof(*names), compare_names);
	for (size_t i = 0; ret == 0 && i + (size_t)keep < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
			log_warn("backup: %s/%s: path too long", dir, names[i]);
			ret = -1;
		} else if (names_live_file(cfg, path, live, sizeof(live))) {
			log_warn("backup: not removing %s: it is %s, a file of the live"
				 " database", path, live);
		} else if (unlink(path) != 0) {
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
	struct backup_args a;
	int ret;

	if ((ret = parse_args(argc, argv, true, &a)) != 0 ||
	    (ret = refuse_engine(cfg, "backup")) != 0)
		return ret;
	if (a.keep > 0 ? stamped_name(a.path, target, sizeof(target)) != 0
		       : snprintf(target, sizeof(target), "%s", a.path) >= (int)sizeof(target)) {
		log_warn("backup: %s: path too long", a.path);
		return 1;
	}
	if ((ret = refuse_live_file(cfg, "backup", target,
				    "write the backup to another file")) != 0)
		return ret;
	if (db_backup_to(cfg, target, (int)a.wait_s * 1000, err, sizeof(err)) != 0) {
		log_warn("backup: %s", err);
		return 1;
	}
	log_info("backup: %s copied to %s (integrity ok)", cfg->db_path, target);
	return a.keep > 0 && prune(cfg, a.path, a.keep) != 0 ? 1 : 0;
}

int restore_main(const struct config *cfg, int argc, char **argv)
{
	char err[ERR_LEN];
	struct backup_args a;
	int ret;

	if ((ret = parse_args(argc, argv, false, &a)) != 0 ||
	    (ret = refuse_engine(cfg, "restore")) != 0 ||
	    (ret = refuse_live_file(cfg, "restore", a.path,
				    "restore from a copy ('sqlite-fcgi backup' makes one)")) != 0)
		return ret;
	if (db_restore_from(cfg, a.path, (int)a.wait_s * 1000, err, sizeof(err)) != 0) {
		log_warn("restore: %s", err);
		return 1;
	}
	log_info("restore: %s now holds the content of %s (integrity ok)", cfg->db_path, a.path);
	return 0;
}
