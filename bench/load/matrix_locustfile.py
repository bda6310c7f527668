"""Upstream's load (django-sqlite-dblock's locustfile.py), its mix written
again, for sqlite-fcgi's matrix and the reference Django app alike:

    locust -f bench/load/matrix_locustfile.py --headless -u 100 -t 20s \
        --stop-timeout 60 --host http://127.0.0.1:8000/

Upstream's user has eight tasks: GET read/ and GET read_transaction/ of
weight 10 each, and a POST of weight 1 to each of the six writes. Every
POST sends the same row as form data, the first its generator makes
("Name 0", "Campaign 0", ..., inside=0, side=0): upstream draws it once, at
import. Here one task loops (see loadlib.running, which keeps a stop from
cutting a write short) and draws each request by upstream's weights, so
the mix is the same: 10/26 of the requests to each read, 1/26 to each
write. Requests are named by their path ("/read/"), as upstream's appear in
locust's tables.

What differs from upstream's file, and why: FastHttpUser, not HttpUser (a
lighter client, so that one locust process drives more requests), and a
request counts as a success only for a 200 whose body is "OK", any other
answer being a failure named by its status and body ("503 database is
locked"). With --csv PREFIX the files PREFIX_final_stats.csv and
PREFIX_final_failures.csv hold every request of the run (loadlib.py).
"""

import random
from urllib.parse import urlencode

from locust import FastHttpUser, constant, task

from loadlib import check, running

ROW = {
    "name": "Name 0", "campaign": "Campaign 0", "voice": "Voice 0",
    "recognize": "Recognize 0", "inside": 0, "growth": "Growth 0", "side": 0,
    "yard": "Yard 0", "discussion": "Discussion 0",
}
# The body upstream's requests.post(path, row) sends.
BODY = urlencode(ROW)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

READS = {"read/": 10, "read_transaction/": 10}
WRITES = {"write/": 1, "read_write/": 1, "write_read/": 1, "read_write_transaction/": 1,
          "write_read_transaction/": 1, "read_write_transaction_immediate/": 1}
PATHS = list(READS) + list(WRITES)
WEIGHTS = list(READS.values()) + list(WRITES.values())


class MatrixUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        # FastHttpUser appends the path to the host as written.
        self.prefix = "" if self.host.endswith("/") else "/"

    @task
    def mix(self):
        while running():
            path = random.choices(PATHS, WEIGHTS)[0]
            self.request(path)

    def request(self, path):
        url, name = self.prefix + path, "/" + path
        if path in READS:
            response = self.client.get(url, name=name, catch_response=True)
        else:
            response = self.client.post(url, data=BODY, headers=FORM, name=name,
                                        catch_response=True)
        with response:
            check(response, "OK")
