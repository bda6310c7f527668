#include "random_text.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Random names, passwords and salts: one alphabet, one unbiased draw. */

static const char alnum[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* Fills out[0..n) with random letters and digits, without modulo bias. */
int random_alnum(char *out, size_t n)
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
