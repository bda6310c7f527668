"""What the tests, make demo, make bench and make tune share: the stack under
test (stack, run under reaper, which reaps its daemons as they exit), free
loopback ports (ports), locust's and wrk's results (locust, wrk), the
compose engines (compose) and the reference Django app under gunicorn that
make compare runs beside it (django_app).  Imported as tests.harness.* with
the repository root on sys.path (the Makefile sets PYTHONPATH, pytest.ini
sets pythonpath)."""
