"""make test-compose: docker-compose.yml built and run for real.

On a Docker engine by default (started for the test when `docker info` does
not answer, and stopped after it, the host's network put back); on podman with
COMPOSE_ENGINE=podman.  Validates the file, builds both images on a
debian:bookworm-slim base (tests/compose/base-image.sh makes one with
debootstrap where no registry answers), starts the stack on a free loopback
port, then:
  1. tuned: locust (10 users, 10 s) through nginx; no failure allowed, and N
     of the last "User created, num users: N" = the rows in the database
     inside the volume = every request that succeeded;
  2. the volume survives down/up, and sqlite3 .backup works through exec;
  3. django-default: the same load now fails with 503 "database is locked",
     and still no write is lost or half made;
then down -v (the images stay cached for the next run);
  4. PostgreSQL (docker-compose.yml + docker-compose.postgres.yml, its own
     project, the app and nginx images reused): the same load, no failure,
     and N of the last answer = the rows of auth_user in the db container's
     PostgreSQL (psql through exec), then down -v;
  5. a synchronous standby (the same two files + docker-compose.standby.yml,
     its own project): users created through nginx, the primary killed
     (docker kill), the failover of docs/containers.md (stop db,
     promote-standby in db-standby); creations succeed again without
     restarting the app, every acknowledged user is in the promoted
     standby's database, and down -v leaves nothing of the project.

Environment: COMPOSE_ENGINE (docker|podman, default docker), LOAD_USERS (10),
LOAD_TIME (10s).
"""

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import types
from collections import Counter

import pytest
import requests

from bench.harness import locust
from tests.harness import acks
from tests.harness.compose import Project, engine_for, say
from tests.harness.waiting import wait_for
from bench.harness.ports import free_port
from bench.harness.settings import without_settings
from bench.harness.stack import ROOT

ENGINE = os.environ.get("COMPOSE_ENGINE", "docker")
LOAD_USERS = os.environ.get("LOAD_USERS", "10")
LOAD_TIME = os.environ.get("LOAD_TIME", "10s")
DB = "/var/lib/sqlite-fcgi/db.sqlite3"
# Both images from cache: seconds; cold (apt-get inside two builds): about a
# minute here; a slow mirror gets the rest.
BUILD_TIMEOUT_S = 1800
# From `up` to both containers healthy: about 3 s here with the compose
# file's 1 s healthcheck interval; the margin is for a loaded machine.
HEALTHY_WITHIN_S = 90
# locust's own run time plus its --stop-timeout and start-up.
LOAD_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with engine_for(ENGINE, tmp_path_factory.mktemp("engine")) as e:
        yield e


@pytest.fixture(scope="module")
def project(engine, tmp_path_factory, request):
    port = free_port()
    # The service's settings from the developer's shell would reach the
    # containers (the compose file passes them on): each `up` sets its own.
    env = dict(without_settings(engine.env), PORT=str(port), BIND_ADDRESS="127.0.0.1")
    p = Project(engine, f"sqlite-fcgi-test-{os.getpid()}", env)
    p.url = f"http://127.0.0.1:{port}"
    p.tmp = tmp_path_factory.mktemp("compose")
    say(f"engine: {' '.join(engine.compose)} (project {p.name}, port {port})")
    try:
        t0 = time.monotonic()
        engine.base_image()
        p.compose("build", timeout=BUILD_TIMEOUT_S)
        say(f"images built in {time.monotonic() - t0:.0f} s")
        yield p
    finally:
        if request.session.testsfailed:
            for service in ("app", "nginx"):
                say(f"last log lines of {service}:\n{p.logs(service)}")
        p.remove()


def up(project, profile, services=("app", "nginx")):
    """Starts the stack with that profile; waits for the services'
    healthchecks and a 200 from /healthz through the published port.
    Returns the seconds from `up` to that first 200."""
    project.env.update(SQLITE_PROFILE=profile, WORKERS="3")
    t0 = time.monotonic()
    project.compose("up", "-d")
    started = time.monotonic() - t0
    first_200 = None
    while time.monotonic() - t0 < HEALTHY_WITHIN_S:
        if first_200 is None:
            try:
                if requests.get(project.url + "/healthz", timeout=3).status_code == 200:
                    first_200 = time.monotonic() - t0
            except requests.RequestException:
                pass
        health = {s: project.health(s) for s in services}
        if first_200 is not None and set(health.values()) == {"healthy"}:
            say(f"up with SQLITE_PROFILE={profile}: `up -d` returned after {started:.1f} s, "
                f"first 200 after {first_200:.1f} s, {', '.join(services)} healthy after "
                f"{time.monotonic() - t0:.1f} s")
            return first_200
        time.sleep(0.2)
    pytest.fail(f"not up within {HEALTHY_WITHIN_S} s ({profile}): {health}, "
                f"first 200: {first_200}")


def down(project):
    project.compose("down")


def rows(project):
    return int(project.exec("app", "sqlite3", "-bail", DB, "SELECT count(*) FROM auth_user;"))


def integrity(project):
    return project.exec("app", "sqlite3", "-bail", DB, "PRAGMA integrity_check;").strip()


def load(project, name):
    """locust headless through nginx; returns its totals."""
    prefix = project.tmp / name
    cmd = [sys.executable, "-m", "locust", "-f", str(locust.LOCUSTFILE), "--headless",
           "-u", LOAD_USERS, "-r", LOAD_USERS, "-t", LOAD_TIME, "--stop-timeout", "10",
           "--host", project.url, "--csv", str(prefix), "--only-summary"]
    run = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=LOAD_TIMEOUT_S)
    # 0: no failure; 1: some requests failed (a result, judged by the caller).
    assert run.returncode in (0, 1), f"locust: exit status {run.returncode}\n{run.stderr[-3000:]}"
    t = locust.totals(prefix)
    say(f"locust ({name}): {t.requests} requests, {t.failures} failures, {t.rps:.1f} req/s, "
        f"p50 {t.p50} ms, p95 {t.p95} ms, p99 {t.p99} ms, max {t.max} ms")
    return t


def last_n(project):
    """One more request; N of "User created, num users: N"."""
    r = requests.get(project.url + "/create_user/", timeout=10)
    assert r.status_code == 200, r.text
    prefix = "User created, num users: "
    assert r.text.startswith(prefix), r.text
    return int(r.text[len(prefix):])


def load_counts_every_user(project, name, count_rows, where):
    """locust against the stack fails nothing, and the next creation's N is
    every row: the ones before, one per request, and its own."""
    before = count_rows(project)
    t = load(project, name)
    assert t.requests > 0, "locust made no request"
    assert t.failures == 0, t.errors
    n = last_n(project)
    count = count_rows(project)
    say(f"{name}: last num users {n}, {where} {count} (before {before}, + {t.requests} + 1)")
    assert n == count
    assert count == before + t.requests + 1


def test_compose_file_is_valid():
    r = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_tuned_loses_no_write(project):
    up(project, "tuned")
    assert project.exec("app", "sqlite-fcgi", "config").count("WORKERS=3\n") == 1, \
        "WORKERS=3 did not reach the app container"
    assert project.exec("app", "id", "-u").strip() != "0", "the app runs as root"
    modes = {path: project.exec("app", "stat", "-c", "%a", path).strip()
             for path in ("/run/sqlite-fcgi/fcgi.sock", DB, os.path.dirname(DB))}
    assert modes == {"/run/sqlite-fcgi/fcgi.sock": "660", DB: "600",
                     os.path.dirname(DB): "700"}
    # The app's read_only: true in docker-compose.yml: its root refuses writes.
    r = project.engine.run("exec", project.container("app"), "touch", "/probe", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    # BIND_ADDRESS (127.0.0.1 here) is where the host port is published.
    r = project.engine.run("port", project.container("nginx"), "8000")
    assert r.stdout.split() and all(line.startswith("127.0.0.1:")
                                    for line in r.stdout.split()), r.stdout

    load_counts_every_user(project, "tuned", rows, "rows in the volume's database")
    assert integrity(project) == "ok"


def test_volume_outlives_down_up_and_backup_works(project):
    up(project, "tuned")
    count = rows(project)
    down(project)
    up(project, "tuned")
    assert rows(project) == count
    project.compose("exec", "-T", "app", "sqlite3", DB,
                    ".backup /var/lib/sqlite-fcgi/backup.sqlite3", timeout=60)
    backup = project.tmp / "backup.sqlite3"
    project.engine.run("cp", f"{project.container('app')}:/var/lib/sqlite-fcgi/backup.sqlite3",
                       str(backup))
    con = sqlite3.connect(backup)
    try:
        assert con.execute("SELECT count(*) FROM auth_user").fetchone()[0] == count
    finally:
        con.close()
    say(f"the volume kept {count} rows across down/up; the backup has them all")


def test_django_default_fails_locked_but_loses_no_write(project):
    down(project)
    up(project, "django-default")
    before = rows(project)
    t = load(project, "django")
    assert t.failures > 0, "no failure with SQLITE_PROFILE=django-default: not reproduced"
    assert any("database is locked" in error for error, _ in t.errors), t.errors
    for error, occurrences in t.errors:
        say(f"django-default failure: {occurrences} x {error}")
    count = rows(project)
    ok = t.requests - t.failures
    say(f"django-default: {ok} created, {t.failures} failed; rows {before} -> {count}")
    assert count == before + ok
    assert integrity(project) == "ok"


PG_OVERRIDE = "docker-compose.postgres.yml"
# Characters a URL would have to percent-encode: the compose file passes the
# password as PGPASSWORD, apart from DATABASE_URL, so they must just work.
PG_PASSWORD = "compose:p@ss/w0rd'"


def psql(project, service, sql):
    """sql's rows in that container's PostgreSQL (peer login on its socket),
    one "a|b" line each."""
    return project.exec(service, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h",
                        "/run/postgresql", "-d", "sqlitefcgi", "-c", sql).strip()


def pg_rows(project):
    """The users in the db container's PostgreSQL."""
    return int(psql(project, "db", "SELECT count(*) FROM auth_user"))


@contextlib.contextmanager
def pg_variant(project, engine, request, name, overrides, services, **env):
    """A PostgreSQL variant as a project of its own (own volumes and
    network), on the app and nginx images the project fixture built; every
    container, volume and network of it removed on the way out.  services:
    those whose health `up` waits for."""
    if engine.name == "podman":
        # podman 4.3 (Debian 12) mounts its own tmpfs over /run in a read-only
        # container after the file's /run/postgresql one, so the server cannot
        # create its socket there, and it knows no tmpfs uid= option either;
        # podman-compose 1.0.3 cannot merge the override's DATABASE_URL into
        # the base file's empty one.  docs/containers.md says so.
        pytest.skip("the PostgreSQL variants run on a Docker engine only (podman 4.3:"
                    " a read-only container's /run tmpfs hides /run/postgresql)")
    port = free_port()
    env = dict(without_settings(engine.env), PORT=str(port), BIND_ADDRESS="127.0.0.1",
               POSTGRES_PASSWORD=PG_PASSWORD, **env)
    p = Project(engine, f"sqlite-fcgi-test-{name}-{os.getpid()}", env, overrides=overrides)
    p.url = f"http://127.0.0.1:{port}"
    p.tmp = project.tmp
    p.services = services
    try:
        t0 = time.monotonic()
        p.compose("build", "db", timeout=BUILD_TIMEOUT_S)
        say(f"PostgreSQL image built in {time.monotonic() - t0:.0f} s")
        yield p
    finally:
        if request.session.testsfailed:
            for service in p.services:
                say(f"last log lines of {service} ({name}):\n{p.logs(service)}")
        p.remove()


@pytest.fixture(scope="module")
def pg_project(project, engine, request):
    with pg_variant(project, engine, request, "pg", [PG_OVERRIDE],
                    ("db", "app", "nginx")) as p:
        yield p


def test_postgres_compose_file_is_valid():
    files = [arg for f in ("docker-compose.yml", PG_OVERRIDE) for arg in ("-f", str(ROOT / f))]
    r = subprocess.run(["docker-compose", *files, "config", "-q"], cwd=ROOT,
                       env=dict(os.environ, POSTGRES_PASSWORD="x"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # Without a password the file refuses to start, saying what is missing.
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    r = subprocess.run(["docker-compose", *files, "config", "-q"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "POSTGRES_PASSWORD" in r.stderr, r.stderr


def test_postgres_variant_loses_no_write(pg_project):
    p = pg_project
    t0 = time.monotonic()
    up(p, "tuned", services=p.services)
    config = p.exec("app", "sqlite-fcgi", "config")
    assert "-- engine: postgresql" in config, "DATABASE_URL did not reach the app container"
    assert PG_PASSWORD not in config
    # The database publishes no port on the host.
    assert p.engine.run("port", p.container("db")).stdout.strip() == ""

    load_counts_every_user(p, "postgres", pg_rows, "rows in the db container's PostgreSQL")
    p.compose("down", "-v", timeout=120)
    assert p.container("db", all_states=True) == "", "down -v left the db container"
    say(f"PostgreSQL variant: up, load, checks and down -v in {time.monotonic() - t0:.0f} s")


STANDBY_OVERRIDE = "docker-compose.standby.yml"
# After the promotion the first creation succeeds within 0-4 s here (a
# worker's connect may first wait out connect_timeout on the dead server's
# address, then its 1 s back-off); the margin is for a loaded machine. A
# COMMIT that waits for a standby that is gone never succeeds.
RECOVERED_WITHIN_S = 30
# Acknowledged creations to have before the primary is killed.
ACKED_BEFORE_KILL = 20


@pytest.fixture(scope="module")
def standby_project(project, engine, request):
    with pg_variant(project, engine, request, "standby", [PG_OVERRIDE, STANDBY_OVERRIDE],
                    ("db", "db-standby", "app", "nginx"),
                    POSTGRES_REPLICATION_PASSWORD="repl:p@ss/w0rd'") as p:
        yield p


def app_start(project):
    """The app container's id, start time and restart count: the same after
    the failover when the app was not restarted."""
    c = project.container("app")
    return c, project.engine.run("inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}",
                                 c).stdout.strip()


def test_standby_promoted_takes_the_writes_without_restarting_the_app(standby_project):
    """The three files up; users created through nginx; the primary killed
    (docker kill); the documented failover (stop db, promote-standby in
    db-standby); creations succeed again without touching the app, and every
    acknowledged user is in the promoted standby's database."""
    p = standby_project
    t0 = time.monotonic()
    up(p, "tuned", services=p.services)
    state = psql(p, "db", "SELECT sync_state FROM pg_stat_replication"
                          " WHERE application_name = 'db_standby'")
    assert state == "sync", f"db-standby is not db's synchronous standby: {state!r}"
    app_before = app_start(p)

    site = types.SimpleNamespace(url=lambda path: p.url + path)
    load = acks.Load(site, "ha", threads=3).start()
    try:
        wait_for(lambda: load.acked_between(0, float("inf")) >= ACKED_BEFORE_KILL, 60,
                 f"{ACKED_BEFORE_KILL} users created through nginx")
        p.engine.run("kill", p.container("db"))
        killed = time.monotonic()
        # A failover manager's detection time; the app meanwhile answers 503.
        time.sleep(1)
        p.compose("stop", "db", timeout=90)
        r = p.compose("exec", "-T", "db-standby", "promote-standby", timeout=90)
        promoted = time.monotonic()
        say(f"promoted {promoted - killed:.1f} s after the kill: {r.stdout.strip()}")
        while (acks.first_2xx_after(load.records, promoted) is None
               and time.monotonic() < promoted + RECOVERED_WITHIN_S):
            time.sleep(0.1)
    finally:
        load.stop()
    recovered = acks.first_2xx_after(load.records, promoted)
    assert recovered is not None, \
        f"no user created within {RECOVERED_WITHIN_S} s of the promotion; answers since: " \
        f"{Counter(r.status for r in load.records if r.asked > promoted)}"
    assert p.container("db") == "", "the old primary runs again"
    assert app_start(p) == app_before, "the app was restarted"

    usernames = [tuple(line.split("|")) for line in psql(
        p, "db-standby", "SELECT username, count(*) FROM auth_user GROUP BY username").split()]
    verdict = acks.check(load.records, [(u, int(n)) for u, n in usernames])
    before_kill = sum(1 for r in load.records if r.status == 200 and r.answered < killed)
    say(f"standby: {before_kill} acknowledged before the kill, {verdict.acknowledged} in all, "
        f"statuses {dict(verdict.statuses)}; first 2xx {recovered:.2f} s after "
        "promote-standby returned")
    assert verdict.failures() == [], "on the promoted standby"
    p.compose("down", "-v", timeout=120)
    assert p.leftovers() == [], "down -v left these"
    say(f"standby variant: up, failover, checks and down -v in {time.monotonic() - t0:.0f} s")
