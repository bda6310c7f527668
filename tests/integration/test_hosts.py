"""Several app hosts behind one nginx (docs/hosts.md).

Two "hosts" on one machine: two worker pools started by
`deploy/local/stack.sh start-pool`, listening on TCP at 127.0.0.2:P1 and
127.0.0.3:P2 (FCGI_LISTEN), both writing to one database, behind one nginx
on 127.0.0.1 started by `deploy/local/stack.sh start-proxy` (APP_UPSTREAMS).
Under locust load one host's pool is stopped, gracefully or with SIGKILL:
the requests that fail are only those that were at that host (no more than
the locust users, each of which has one request in flight at a time), every
2xx answer is a user in the database, and the other host carries the load.

The database is one SQLite file (valid: both pools run on one
machine) or one PostgreSQL server (DATABASE_URL passed to both pools, users
counted there): the `database` fixture.
"""

import os
import re
import signal
import sqlite3
import subprocess
from collections import Counter

import pytest

from bench.harness import locust
from bench.harness.ports import free_port
from bench.harness.stack import ROOT, Stack
from tests.harness.waiting import wait_for
from tests.harness.nginxconf import nginx_t, render

PYTHON = "/usr/bin/python3"  # Debian's, with python3-locust
HOST_ADDRS = ("127.0.0.2", "127.0.0.3")
WORKERS = 2
USERS = 10
# The load runs from event to event, not for a set time: host A is stopped
# once each host has answered this many creations (load is flowing through
# both), and locust is stopped once host B has answered as many more after
# A stopped (B carries the load).
SERVED = 50
# How long the first event may take at most: only a broken run waits that long.
EVENT_TIMEOUT_S = 60
# The stopped host must stay out of rotation for the rest of the run: nginx
# tries a failed server again after fail_timeout (10 s, the default), so B
# must have carried the load before then.
FAIL_TIMEOUT_S = 10
# locust's own run time, a bound for a run whose test died before stopping it.
LOAD_BOUND_S = 300
# Seconds locust lets a request in flight finish once it is told to stop.
STOP_TIMEOUT_S = 30
# The upstream is a list ("A, B") when nginx tried a second host.
ACCESS = re.compile(r'"(\w+) (\S+) HTTP/[0-9.]+" (\d{3}) .* ua=(.+)$')
# The cheap hash keeps the two pools' CPU share small on a shared machine.
CHEAP_HASH = {"HASH_METHOD": "sha512crypt", "HASH_COST": "1000"}



class SharedDatabase:
    """The database both hosts write to: one SQLite file the pools share
    (DB_PATH), or one PostgreSQL database given to both as DATABASE_URL."""

    def __init__(self, db_path, server=None):
        self.db_path = db_path
        self.server = server
        self.name = server.new_database() if server else None
        self.url = server.url(self.name) if server else None

    def users(self):
        if self.server:
            return int(self.server.value("SELECT count(*) FROM auth_user", self.name))
        con = sqlite3.connect(self.db_path, timeout=10)
        try:
            return con.execute("SELECT count(*) FROM auth_user").fetchone()[0]
        finally:
            con.close()


@pytest.fixture(params=["sqlite-shared-file", "postgresql"])
def database(request, tmp_path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    yield SharedDatabase(tmp_path / "db.sqlite3", server)


class Hosts:
    """The pools and the nginx of one test; stop() stops all of them."""

    def __init__(self, tmp_path, database):
        self.tmp = tmp_path
        self.database = database
        self.pools = []
        self.proxy = None

    def settings(self):
        s = dict(CHEAP_HASH, WORKERS=WORKERS, DB_PATH=self.database.db_path)
        if self.database.url:
            s["DATABASE_URL"] = self.database.url
        return s

    def start_pool(self, addr):
        listen = f"{addr}:{free_port(addr)}"
        pool = Stack(self.tmp / f"pool-{addr}", FCGI_LISTEN=listen, **self.settings())
        self.pools.append(pool)
        result = pool.run_script("start-pool")
        assert result.returncode == 0, result.stderr
        pool.listen = listen
        return pool

    def start_proxy(self, upstreams):
        self.proxy = Stack(self.tmp / "proxy", APP_UPSTREAMS=",".join(upstreams))
        result = self.proxy.run_script("start-proxy")
        assert result.returncode == 0, result.stderr
        return self.proxy

    def stop(self):
        for s in ([self.proxy] if self.proxy else []) + self.pools:
            s.stop()

    def users(self):
        return self.database.users()

    def processes(self):
        """multiwatch, workers and nginx of every part (their pids)."""
        pids = set()
        for s in self.pools + [self.proxy]:
            for name in ("workers", "nginx"):
                path = s.run_dir / f"{name}.pid"
                if path.exists():
                    pid = int(path.read_text())
                    pids.add(pid)
                    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                         text=True)
                    pids.update(int(p) for p in out.stdout.split())
        return pids


@pytest.fixture
def hosts(tmp_path, database):
    h = Hosts(tmp_path, database)
    yield h
    h.stop()


def access(proxy):
    """(method, path, status, upstream) of every line of nginx's access log."""
    out = []
    for line in proxy.access_log():
        m = ACCESS.search(line)
        assert m, f"unexpected access log line: {line}"
        out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
    return out


def created_by(lines, upstream):
    return sum(1 for _, path, status, ua in lines
               if path == "/create_user/" and 200 <= status < 300 and ua == upstream)



def start_locust(proxy, prefix):
    cmd = [PYTHON, "-m", "locust", "-f", str(locust.LOCUSTFILE), "--headless", "-u", str(USERS),
           "-r", str(USERS), "-t", f"{LOAD_BOUND_S}s", "--stop-timeout", str(STOP_TIMEOUT_S),
           "--host", proxy.base + "/", "--csv", str(prefix), "--only-summary",
           "--loglevel", "WARNING"]
    return subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)



def kill_pool(pool):
    """SIGKILL to the pool's multiwatch and its workers at once: a host lost."""
    pid = pool.pid("workers")
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for p in [pid] + [int(k) for k in kids.split()]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass  # a worker already gone: it dies with multiwatch (PR_SET_PDEATHSIG)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the killed multiwatch to go")


def stop_pool(pool):
    """The graceful stop: each worker finishes the request it is in."""
    pool.stop()


@pytest.mark.parametrize("stop", [stop_pool, kill_pool], ids=["graceful", "sigkill"])
def test_one_host_stops_under_load_and_the_other_carries_it(hosts, tmp_path, stop):
    a = hosts.start_pool(HOST_ADDRS[0])
    b = hosts.start_pool(HOST_ADDRS[1])
    proxy = hosts.start_proxy([a.listen, b.listen])
    started = hosts.processes()
    prefix = tmp_path / "locust"
    load = start_locust(proxy, prefix)
    try:
        wait_for(lambda: created_by(access(proxy), a.listen) >= SERVED
                 and created_by(access(proxy), b.listen) >= SERVED,
                 EVENT_TIMEOUT_S, f"both hosts to serve {SERVED} creations")
        stop(a)
        logged_at_stop = len(proxy.access_log())
        wait_for(lambda: created_by(access(proxy)[logged_at_stop:], b.listen) >= SERVED,
                 FAIL_TIMEOUT_S, f"host B to serve {SERVED} creations after A stopped")
        # locust's SIGTERM: its users finish the request in flight, then it
        # writes its results and exits.
        load.terminate()
        out, _ = load.communicate(timeout=STOP_TIMEOUT_S + 30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    run = locust.totals(prefix)
    requests, failures = run.requests, run.failures
    # locust exits 1 when a request failed, which a stop may cause.
    assert load.returncode == (1 if failures else 0), out[-2000:]
    # nginx writes a line once its answer has left: wait for the last ones.
    wait_for(lambda: len([l for l in access(proxy) if l[1] == "/create_user/"]) >= requests,
             10, "nginx's last log lines")
    lines = [l for l in access(proxy) if l[1] == "/create_user/"]
    statuses = Counter(status for _, _, status, _ in lines)
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    failed = [l for l in lines if not 200 <= l[2] < 300]
    after = access(proxy)[logged_at_stop:]
    b_after = created_by(after, b.listen)
    users = hosts.users()
    summary = (f"{stop.__name__}: {requests} requests, {failures} failed "
               f"({dict(statuses)}), {users} users in the database; host A "
               f"{created_by(lines, a.listen)} created, host B {created_by(lines, b.listen)} "
               f"({b_after} after A stopped)")
    print("\n" + summary)
    for line in (proxy.run_dir / "nginx-error.log").read_text().splitlines():
        if "upstream" in line:
            print("  nginx: " + re.sub(r", client: .*", "", line.split("] ", 1)[-1]))
    # locust and nginx agree: every request was logged, none cut off (499).
    assert sum(statuses.values()) == requests, summary
    assert requests - failures == ok, summary
    # Only requests that were at the stopped host failed: each names it as
    # its upstream, and there are no more than the locust users, each with
    # one request in flight at a time.
    assert all(ua == a.listen for _, _, _, ua in failed), failed
    assert failures <= USERS, summary
    # Every 2xx is a user in the database. A graceful stop lets each worker
    # finish: nothing else is written. SIGKILL may land between a commit and
    # its answer: such a user exists, and its request is among the failures.
    if stop is stop_pool:
        assert users == ok, summary
    else:
        assert ok <= users <= ok + failures, summary
    # The other host carried the load once A was gone.
    assert b_after >= SERVED, summary
    # Once A's pool is gone, at most what its workers were serving when it
    # was stopped can still be logged as A's.
    assert created_by(after, a.listen) <= WORKERS, summary
    # And it still does.
    r = proxy.get("/create_user/")
    assert r.status_code == 200 and r.text.startswith("User created"), r.text

    hosts.stop()
    for p in started:
        assert not os.path.exists(f"/proc/{p}"), f"pid {p} still running"
    for s in hosts.pools + [hosts.proxy]:
        assert not list(s.run_dir.glob("*.pid"))
        assert not (s.run_dir / "pool.listen").exists()


def test_a_read_only_route_is_retried_on_the_other_host(hosts):
    """/healthz goes to the next host after an error; /create_user/ never does."""
    a = hosts.start_pool(HOST_ADDRS[0])
    b = hosts.start_pool(HOST_ADDRS[1])
    proxy = hosts.start_proxy([a.listen, b.listen])
    a.stop()
    # Round robin sends one of two requests to A: each /healthz still answers.
    for _ in range(4):
        assert proxy.get("/healthz").status_code == 200
    retried = [l for l in access(proxy) if l[1] == "/healthz" and "," in l[3]]
    assert retried and retried[0][3] == f"{a.listen}, {b.listen}", access(proxy)


def test_a_create_is_never_retried_on_the_other_host(hosts):
    """fastcgi_next_upstream off, shown by behaviour: with host A down, nginx's
    round robin sends one of the first two creations to A, which fails (502)
    and is not sent on to B (its log line names A alone); the other one is
    answered by B. One user exists: nothing was created twice or by a retry."""
    a = hosts.start_pool(HOST_ADDRS[0])
    b = hosts.start_pool(HOST_ADDRS[1])
    proxy = hosts.start_proxy([a.listen, b.listen])
    a.stop()
    statuses = sorted(proxy.get("/create_user/").status_code for _ in range(2))
    assert statuses == [200, 502]
    wait_for(lambda: len([l for l in access(proxy) if l[1] == "/create_user/"]) == 2, 10,
             "both lines in the access log")
    upstreams = sorted((status, ua) for _, path, status, ua in access(proxy)
                       if path == "/create_user/")
    assert upstreams == [(200, b.listen), (502, a.listen)]
    assert hosts.users() == 1


def test_two_upstreams_render_two_server_lines_that_nginx_accepts(tmp_path):
    upstreams = f"{HOST_ADDRS[0]}:9000,{HOST_ADDRS[1]}:9001"
    (tmp_path / "nginx-tmp").mkdir()
    result = render(tmp_path, tmp_path, "127.0.0.1:1", upstreams)
    assert result.returncode == 0, result.stderr
    servers = [l.strip() for l in result.stdout.splitlines()
               if re.fullmatch(r"server [^{]*;", l.strip())]
    assert servers == ["server 127.0.0.2:9000;", "server 127.0.0.3:9001;"]
    # The create is never retried, the read-only routes are.
    conf = result.stdout
    server_block = conf[conf.index("server {"):]
    first_location = re.search(r"^\s*location ", server_block, re.M).start()
    assert server_block.index("fastcgi_next_upstream off;") < first_location
    healthz = server_block[server_block.index("location = /healthz"):]
    assert "fastcgi_next_upstream error timeout;" in healthz[:healthz.index("}")]
    catch_all = server_block[server_block.index("location / {"):]
    assert "fastcgi_next_upstream" not in catch_all[:catch_all.index("}")]
    conf_file = tmp_path / "nginx.conf"
    conf_file.write_text(conf)
    check = nginx_t(conf_file, tmp_path)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("entry", ["127.0.0.2", "127.0.0.2:0", "127.0.0.2:65536",
                                   "127.0.0.2:9000;evil", "host name:9000", "[zz]:9000",
                                   "unix:relative.sock", "127.0.0.2:9000,"])
def test_a_bad_upstream_is_refused_with_a_message(tmp_path, entry):
    result = render(tmp_path, tmp_path, "127.0.0.1:1", entry)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "upstream" in result.stderr and "127.0.0.2:9000" in result.stderr, result.stderr


def test_start_proxy_refuses_a_bad_upstream_and_starts_nothing(tmp_path):
    proxy = Stack(tmp_path / "proxy", APP_UPSTREAMS="127.0.0.2:9000,nonsense")
    result = proxy.run_script("start-proxy")
    assert result.returncode != 0
    assert "upstream 'nonsense'" in result.stderr
    assert not (proxy.run_dir / "nginx.pid").exists()


def test_a_bad_listen_address_stops_the_pool_start(tmp_path):
    pool = Stack(tmp_path / "pool", FCGI_LISTEN="127.0.0.2:99999", **CHEAP_HASH)
    result = pool.run_script("start-pool")
    assert result.returncode != 0
    # The binary's settings check refuses it first, naming the variable.
    assert "FCGI_LISTEN=127.0.0.2:99999: must be ADDR:PORT" in result.stderr
    assert not list(pool.run_dir.glob("*.pid"))
