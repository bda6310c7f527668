"""What the tools (make demo, compare, bench, tune) and the tests share: the
stack (stack, started under reaper, which reaps its daemons as they exit),
the reference Django app under gunicorn (django_app), a PostgreSQL server
(postgres), an nginx that only answers "OK" (ok_nginx), upstream's endpoint
matrix under load (matrix), waiting for a server to answer and stopping its
process group (procs), free loopback ports (ports), the service's setting
names and effective values (settings), locust's and wrk's runs and results (locust,
wrk, load), the server's records (accesslog, sqlite_files), /proc figures
(measure), charts (plot), Ctrl-C handling (interrupts) and the tables the
tools write (report, cli).

The tools run as scripts (bench/demo.py) and import it as `harness`; the
tests import it as `bench.harness` with the repository root on sys.path.
Nothing here imports from tests/: the tests depend on the tools, not the
reverse (tests/integration/test_layout.py checks it)."""
