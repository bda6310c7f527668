#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "metrics.h"

/* The metrics file: private to the workers' user, and allocated on disk. */

static void path_in(const char *dir, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* A fresh directory in dir, and in it a file "m" of size bytes, 0600, in path. */
static void file_of_size(char *dir, size_t dirlen, char *path, size_t pathlen, off_t size)
{
	int fd;

	test_mkdtemp(dir, dirlen);
	path_in(dir, "m", path, pathlen);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(close(fd), 0);
}

/* Every block is allocated: no store to the mapping can meet a full disk. */
static void a_new_file_is_private_and_allocated(void **state)
{
	char dir[64], path[128], err[ERR_LEN];
	struct stat st;

	(void)state;
	test_mkdtemp(dir, sizeof(dir));
	path_in(dir, "m", path, sizeof(path));
	assert_int_equal(metrics_open(path, err, sizeof(err)), 0);
	metrics_close();
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_size > 0);
	assert_true((long long)st.st_blocks * 512 >= (long long)st.st_size);
	test_rmdir(dir);
}

/* A sparse file left by an older version is allocated before it is mapped. */
static void a_sparse_file_is_allocated(void **state)
{
	char dir[64], path[128], err[ERR_LEN];
	struct stat st;

	(void)state;
	file_of_size(dir, sizeof(dir), path, sizeof(path), 1 << 20);
	assert_int_equal(metrics_open(path, err, sizeof(err)), 0);
	metrics_close();
	assert_int_equal(stat(path, &st), 0);
	/* The region, at least: a few hundred KiB. */
	assert_true((long long)st.st_blocks * 512 >= 64 * 1024);
	test_rmdir(dir);
}

static void refused(const char *path, const char *why)
{
	char err[ERR_LEN];

	assert_int_equal(metrics_open(path, err, sizeof(err)), -1);
	if (strstr(err, why) == NULL || strstr(err, path) == NULL)
		fail_msg("%s: %s", path, err);
	/* Nothing is counted into a file that was refused. */
	metrics_count_request(0, 200);
}

/* A name planted where the workers create their file is not followed. */
static void a_symlink_is_refused(void **state)
{
	char dir[64], path[128], target[128];
	struct stat st;

	(void)state;
	test_mkdtemp(dir, sizeof(dir));
	path_in(dir, "m", path, sizeof(path));
	path_in(dir, "target", target, sizeof(target));
	assert_int_equal(symlink(target, path), 0);
	refused(path, "symbolic links");
	assert_int_equal(lstat(target, &st), -1);	/* not created through the link */
	test_rmdir(dir);
}

/* Counters others may write, or a file of another user, are not ours. */
static void a_file_others_may_use_is_refused(void **state)
{
	char dir[64], path[128];

	(void)state;
	file_of_size(dir, sizeof(dir), path, sizeof(path), 0);
	assert_int_equal(chmod(path, 0644), 0);
	refused(path, "not a private file of this user");
	assert_int_equal(chmod(path, 0600), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		refused(path, "not a private file of this user");
	}
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_new_file_is_private_and_allocated),
		cmocka_unit_test(a_sparse_file_is_allocated),
		cmocka_unit_test(a_symlink_is_refused),
		cmocka_unit_test(a_file_others_may_use_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
