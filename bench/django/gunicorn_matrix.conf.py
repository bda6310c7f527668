"""gunicorn for the matrix app (matrixapp), sized by upstream's
gunicorn.conf.py, whose intent is the app on every CPU the load generator
does not use: workers = CPUs - 2 ("so that locust can have 2 cores"), each
with threads = 2 x (CPUs - 2), on the author's many-core machine.

On a machine of 2 to 4 CPUs that is 0 to 2 workers, while locust shares
the CPUs with the app whatever the sizing (there are none to keep for it).
So the formula has a floor: 3 workers of 4 threads, the sizing of a 2-CPU
machine with nothing kept for locust (CPUs + 1 processes, sqlite-fcgi's
default WORKERS, with 2 threads per CPU, upstream's ratio): 3 x 4 here,
what the issue's figures were measured with. From 5 CPUs on, the threads
follow upstream's formula, and from 6 CPUs on the workers too (4 x 8 on 6
CPUs, 8 x 16 on 10). MATRIX_GUNICORN_WORKERS and MATRIX_GUNICORN_THREADS
override both.

The bind address, pid file and logs come from the command line, e.g.

    cd bench/django && export COMPARE_DB_PATH=/tmp/m.sqlite3 &&
    python3 -m django migrate --settings matrixapp.settings &&
    python3 -m gunicorn -c gunicorn_matrix.conf.py --bind 127.0.0.1:8001 \\
        --error-logfile /tmp/m.err
"""

import multiprocessing
import os

_cpus = multiprocessing.cpu_count()
workers = int(os.environ.get("MATRIX_GUNICORN_WORKERS", max(_cpus - 2, 3)))
threads = int(os.environ.get("MATRIX_GUNICORN_THREADS", max(2 * (_cpus - 2), 4)))
wsgi_app = "matrixapp.wsgi:application"
proc_name = "matrixapp"
# Django's logged tracebacks (stderr) into the error log, as upstream has it.
capture_output = True
loglevel = "info"
