/*
 * The trivial FastCGI worker that bounds what nginx + FastCGI can do on this
 * machine: it answers every request with "hello" and touches no database.
 * It takes the same commands as sqlite-fcgi (config, migrate, serve), so
 * deploy/local/stack.sh runs it behind the very same nginx, spawn-fcgi and
 * multiwatch (SQLITE_FCGI=build/hello-fcgi).
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char response[] =
	"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";

static int serve(void)
{
	FCGX_Request req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "hello-fcgi: FastCGI set-up failed\n");
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		int n = (int)sizeof(response) - 1;

		if (FCGX_PutStr(response, n, req.out) != n)
			fprintf(stderr, "hello-fcgi: write failed\n");
		FCGX_Finish_r(&req);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *workers = getenv("WORKERS");

	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return serve();
	if (argc == 2 && strcmp(argv[1], "migrate") == 0)
		return 0;	/* no database */
	if (argc == 2 && strcmp(argv[1], "config") == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		if (workers != NULL && workers[0] != '\0')
			printf("WORKERS=%s\n", workers);
		else
			printf("WORKERS=%ld\n", (cpus > 0 ? cpus : 1) + 1);
		return 0;
	}
	fprintf(stderr, "usage: hello-fcgi serve|migrate|config\n");
	return 2;
}
