"""gunicorn for the reference Django app, sized as the seed sized it:
workers = CPUs + 1, threads = 2 x CPUs (gthread workers). The bind address,
pid file and logs come from the command line (make compare)."""

import multiprocessing

_cpus = multiprocessing.cpu_count()
workers = _cpus + 1
threads = 2 * _cpus
wsgi_app = "compareapp.wsgi:application"
# Django's logged tracebacks (stderr) into the error log, as the seed did.
capture_output = True
