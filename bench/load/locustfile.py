"""Load for sqlite-fcgi: each simulated user creates users, back to back.

    locust -f bench/load/locustfile.py --headless -u 10 -r 10 -t 10s \
        --stop-timeout 60 --host http://127.0.0.1:8000/

The task is the seed's, GET create_user/, asked again as soon as it is
answered, until the run stops (--stop-timeout lets the requests in flight
finish). A response counts as a success only when it is a 200 whose body
starts with "User created, num users: "; any other answer is a failure named
by its status and body, so that locust's failures CSV lists, for example,
"503 database is locked" with its count.

LOAD_READERS_PER_WRITER=N (default 0) adds a second kind of user, which reads
GET users/ back to back: N of them for each one that creates users (locust
shares -u between the two by these weights), so a run shows what reads cost
beside writes. Reads and writes have their own rows in the CSV files.

With --csv PREFIX it also writes PREFIX_final_stats.csv and
PREFIX_final_failures.csv, which hold every request of the run (loadlib.py).
"""

import os

from locust import FastHttpUser, constant, task

from loadlib import check, running

SUCCESS_PREFIX = "User created, num users: "
READ_PREFIX = "num users: "
READERS_PER_WRITER = int(os.environ.get("LOAD_READERS_PER_WRITER", "0"))


class CreateUser(FastHttpUser):
    # As fast as each user can: the next request as soon as the last answered.
    wait_time = constant(0)
    weight = 1

    def on_start(self):
        # FastHttpUser appends the path to the host as written: the seed's
        # "create_user/" wants a host that ends with "/".
        self.path = "create_user/" if self.host.endswith("/") else "/create_user/"

    @task
    def create_users(self):
        """GET create_user/ again and again, until the run stops (one task
        that loops: see loadlib.running)."""
        while running():
            self.create_user()

    def create_user(self):
        with self.client.get(self.path, name="create_user/",
                             catch_response=True) as response:
            check(response, SUCCESS_PREFIX)


if READERS_PER_WRITER > 0:
    class ReadUsers(FastHttpUser):
        """GET users/ (the 10 newest users and the count), back to back."""
        wait_time = constant(0)
        weight = READERS_PER_WRITER

        def on_start(self):
            self.path = "users/" if self.host.endswith("/") else "/users/"

        @task
        def read_users(self):
            """Loops inside one task, as create_users does."""
            while running():
                with self.client.get(self.path, name="users/",
                                     catch_response=True) as response:
                    check(response, READ_PREFIX)
