"""Locust load for test_chaos.py: each request creates a user with a name
unique to this run, and writes "<status> <username>" to CHAOS_LOG, so that
the test can check every answer against the database afterwards."""

import itertools
import os

from locust import FastHttpUser, constant, task

PREFIX = os.environ.get("CHAOS_PREFIX", "chaos")
LOG = open(os.environ["CHAOS_LOG"], "a", buffering=1)
NUMBERS = itertools.count()


class Creator(FastHttpUser):
    wait_time = constant(0)

    @task
    def create_user(self):
        name = f"{PREFIX}{next(NUMBERS)}"
        with self.client.post("/create_user/", data=f"username={name}&password=pw-{name}",
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Accept": "application/json"},
                              name="/create_user/", catch_response=True) as r:
            LOG.write(f"{r.status_code} {name}\n")
            if r.status_code == 200 and f'"username": "{name}"' in (r.text or ""):
                r.success()
            else:
                r.failure(f"{r.status_code} {(r.text or '')[:60]}")
