#include "db_sqlite_conn.h"

#include <stdlib.h>
#include <string.h>

/*
 * The wiping allocator: malloc with the block's size stored in front, so
 * that xFree knows how much to wipe.  16 bytes keep the alignment malloc
 * gives.
 */
#define WIPE_HEADER 16

static void *wipe_malloc(int n)
{
	unsigned char *p = malloc((size_t)n + WIPE_HEADER);

	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HEADER;
}

static int wipe_size(void *block)
{
	int n;

	memcpy(&n, (unsigned char *)block - WIPE_HEADER, sizeof(n));
	return n;
}

static void wipe_free(void *block)
{
	if (block == NULL)
		return;
	explicit_bzero(block, (size_t)wipe_size(block));
	free((unsigned char *)block - WIPE_HEADER);
}

/* Never realloc() in place: the old block must be wiped before it is freed. */
static void *wipe_realloc(void *block, int n)
{
	void *fresh = wipe_malloc(n);
	int old = wipe_size(block);

	if (fresh == NULL)
		return NULL;
	memcpy(fresh, block, (size_t)(old < n ? old : n));
	wipe_free(block);
	return fresh;
}

static int wipe_roundup(int n)
{
	return (n + 7) & ~7;
}

static int wipe_init(void *unused)
{
	(void)unused;
	return SQLITE_OK;
}

static void wipe_shutdown(void *unused)
{
	(void)unused;
}

int sq_global_init(void)
{
	static const sqlite3_mem_methods wiping = {
		wipe_malloc, wipe_free, wipe_realloc, wipe_size, wipe_roundup,
		wipe_init, wipe_shutdown, NULL
	};

	/*
	 * The serving threads each use a connection of their own, opened with
	 * SQLITE_OPEN_NOMUTEX, which needs a library built thread-safe (1 or 2)
	 * to keep its shared state (this allocator's calls, the unix VFS's
	 * file and lock tables) safe; Debian's is.
	 */
	if (sqlite3_threadsafe() == 0)
		return -1;
	return sqlite3_config(SQLITE_CONFIG_MALLOC, &wiping) == SQLITE_OK ? 0 : -1;
}
