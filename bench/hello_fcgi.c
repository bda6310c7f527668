/*
 * The trivial FastCGI worker that bounds what nginx + FastCGI can do on this
 * machine: it answers every request with "hello" and touches no database.
 * It takes the same commands as sqlite-fcgi (config, migrate, serve), so
 * deploy/local/stack.sh runs it behind the very same nginx, spawn-fcgi and
 * multiwatch (SQLITE_FCGI=build/hello-fcgi); its config is the service's.
 */
#include <errno.h>
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

/*
 * `config` is the service's own: the sqlite-fcgi built beside this binary
 * resolves and checks the settings (stack.sh and workers.sh read their
 * values from it), so that no default is restated here.
 */
static int service_config(char **argv)
{
	static const char name[] = "sqlite-fcgi";
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *slash;

	if (n < 0) {
		fprintf(stderr, "hello-fcgi: /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash + 1 - path) + sizeof(name) > sizeof(path)) {
		fprintf(stderr, "hello-fcgi: %s: no room for the service's path\n", path);
		return 1;
	}
	memcpy(slash + 1, name, sizeof(name));
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "hello-fcgi: %s: %s\n", path, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "serve") == 0)
		return serve();
	if (argc == 2 && strcmp(argv[1], "migrate") == 0)
		return 0;	/* no database */
	if (argc == 2 && strcmp(argv[1], "config") == 0)
		return service_config(argv);
	fprintf(stderr, "usage: hello-fcgi serve|migrate|config\n");
	return 2;
}
