"""make install / make uninstall into a staging directory (DESTDIR), and the
installed unit's commands run as the unit runs them: an unprivileged user in
group www-data, behind the installed nginx site with nginx's workers as
www-data, changing the worker count by a second pool, and stopped as
KillMode=mixed stops it with a request in flight."""

import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.harness.getload import GetLoad
from tests.harness.inflight import HeldWriteLock, stop_requested, stopped_after
from tests.harness.nginxconf import nginx_t
from bench.harness.ports import free_port
from bench.harness.stack import BINARY, ROOT
from tests.harness.unitfile import seconds, service_environment, unit_commands, unit_settings
from tests.harness.waiting import wait_for

PREFIX = "/usr"
UNIT = "etc/systemd/system/sqlite-fcgi@.service"
SITE = "etc/nginx/sites-available/sqlite-fcgi"
DEFAULTS = "etc/default/sqlite-fcgi"
FILES = {  # path under DESTDIR: mode
    "usr/bin/sqlite-fcgi": 0o755,
    "usr/lib/sqlite-fcgi/workers.sh": 0o755,
    UNIT: 0o644,
    DEFAULTS: 0o600,  # may hold DATABASE_URL's password
    SITE: 0o644,
}


def make(target, destdir, **knobs):
    args = ["make", "--no-print-directory", "-C", str(ROOT), target, f"DESTDIR={destdir}",
            f"PREFIX={PREFIX}"] + [f"{k}={v}" for k, v in knobs.items()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def staged(tmp_path):
    dest = tmp_path / "stage"
    out = make("install", dest)
    return dest, out


def test_install_lays_out_the_files(staged):
    dest, out = staged
    for rel, mode in FILES.items():
        path = dest / rel
        assert path.is_file(), rel
        assert stat.S_IMODE(path.stat().st_mode) == mode, rel
    assert (dest / "usr/bin/sqlite-fcgi").read_bytes() == BINARY.read_bytes()
    assert (dest / "usr/lib/sqlite-fcgi/workers.sh").read_bytes() == \
        (ROOT / "deploy/pool/workers.sh").read_bytes()
    assert "no system user created" in out
    unit = (dest / UNIT).read_text()
    assert "@PREFIX@" not in unit
    commands = unit_commands(unit)
    assert commands["ExecStart"] == [[
        "/usr/bin/env", "WORKERS=%i", "SOCKET=/run/sqlite-fcgi/pool-%i.sock",
        "SQLITE_FCGI=/usr/bin/sqlite-fcgi", "/usr/lib/sqlite-fcgi/workers.sh"]]
    assert commands["ExecStartPost"][0][:2] == ["/usr/lib/sqlite-fcgi/workers.sh", "activate"]
    assert commands["ExecStop"][0][:2] == ["/usr/lib/sqlite-fcgi/workers.sh", "drain"]
    for line in ("User=sqlite-fcgi", "Group=www-data", "EnvironmentFile=-/etc/default/sqlite-fcgi",
                 "RuntimeDirectory=sqlite-fcgi", "StateDirectory=sqlite-fcgi",
                 "KillMode=mixed", "KillSignal=SIGTERM", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert line in unit.splitlines(), line
    site = (dest / SITE).read_text()
    assert 'server "unix:/run/sqlite-fcgi/fcgi.sock";' in site
    assert "listen 127.0.0.1:8000;" in site
    assert 'access_log "/var/log/nginx/sqlite-fcgi.access.log" sqlite_fcgi_timed;' in site
    # Every setting in the defaults file is a commented-out VARIABLE=value.
    for line in (dest / DEFAULTS).read_text().splitlines():
        assert not line or line.startswith("#"), line


def test_install_honours_prefix_and_knobs(tmp_path):
    dest = tmp_path / "stage"
    make("install", dest, PREFIX="/opt/sf", SYSTEMDDIR="/lib/systemd/system",
         NGINX_LISTEN="8080")
    unit = (dest / "lib/systemd/system/sqlite-fcgi@.service").read_text()
    assert "/opt/sf/lib/sqlite-fcgi/workers.sh" in unit and "/usr/lib/" not in unit
    assert (dest / "opt/sf/bin/sqlite-fcgi").is_file()
    assert "listen 8080;" in (dest / SITE).read_text()


def test_install_keeps_edited_settings_and_uninstall_removes_the_rest(staged):
    dest, _ = staged
    defaults = dest / DEFAULTS
    defaults.write_text(defaults.read_text() + "SQLITE_PROFILE=django-default\n")
    out = make("install", dest)
    assert "kept as it is" in out
    assert defaults.read_text().endswith("SQLITE_PROFILE=django-default\n")
    assert (dest / (DEFAULTS + ".new")).read_text() == \
        (ROOT / "deploy/systemd/sqlite-fcgi.default").read_text()
    out = make("uninstall", dest)
    assert "kept " + str(defaults) + " (edited)" in out
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir())
    assert left == [DEFAULTS]


def test_an_older_settings_file_readable_by_others_is_tightened(staged):
    """An install before this one left the settings 0644: a new install keeps
    what it says and makes it its owner's alone (it may hold a password)."""
    dest, _ = staged
    defaults = dest / DEFAULTS
    defaults.write_text(defaults.read_text() + "DATABASE_URL=postgres://u:s3cret@db/app\n")
    defaults.chmod(0o644)
    out = make("install", dest)
    assert "made readable by its owner only" in out
    assert stat.S_IMODE(defaults.stat().st_mode) == 0o600
    assert defaults.read_text().endswith("DATABASE_URL=postgres://u:s3cret@db/app\n")
    assert stat.S_IMODE((dest / (DEFAULTS + ".new")).stat().st_mode) == 0o600


def test_site_passes_nginx_t(staged, tmp_path):
    dest, _ = staged
    site = (dest / SITE).read_text()
    # The log path the site names is the host's: nginx -t would create it.
    site = site.replace("/var/log/nginx/sqlite-fcgi.access.log", str(tmp_path / "access.log"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "tmp").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(minimal_main(tmp_path, "site.conf", user=None))
    result = nginx_t(main, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def minimal_main(prefix, site, user):
    """A main nginx.conf like Debian's: the site included in the http block."""
    return "\n".join([
        f"user {user};" if user else "",
        "worker_processes 1;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log warn;",
        "events { worker_connections 64; }",
        "http {",
        f"    client_body_temp_path {prefix}/tmp/body;",
        f"    fastcgi_temp_path {prefix}/tmp/fastcgi;",
        f"    proxy_temp_path {prefix}/tmp/proxy;",
        f"    uwsgi_temp_path {prefix}/tmp/uwsgi;",
        f"    scgi_temp_path {prefix}/tmp/scgi;",
        "    access_log off;",
        f"    include {prefix}/{site};",
        "}", ""])


def test_unit_verifies(staged, tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    dest, _ = staged
    # The unit names its programs under PREFIX; here they are under DESTDIR.
    unit = (dest / UNIT).read_text().replace("/usr/lib/sqlite-fcgi/", f"{dest}/usr/lib/sqlite-fcgi/")
    unit = unit.replace("/usr/bin/sqlite-fcgi", f"{dest}/usr/bin/sqlite-fcgi")
    d = tmp_path / "units"
    d.mkdir()
    (d / "sqlite-fcgi@.service").write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(d / "sqlite-fcgi@3.service")],
                            capture_output=True, text=True, cwd=d)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_unit_lets_the_pool_reach_what_its_settings_name(staged):
    """RestrictAddressFamilies= against the settings the unit's settings file
    offers: a PostgreSQL DATABASE_URL on a TCP host needs AF_INET and
    AF_INET6 (an address of either family, and the name lookup), the pool's
    socket AF_UNIX, the drain's ss AF_NETLINK.  systemd is not PID 1 on the
    test machines, so this reads the unit rather than running it."""
    dest, _ = staged
    (families,) = unit_settings((dest / UNIT).read_text())["RestrictAddressFamilies"]
    allowed = set(families.split())
    needed = {"AF_UNIX", "AF_NETLINK"}
    urls = re.findall(r"postgres(?:ql)?://\S+", (dest / DEFAULTS).read_text())
    assert urls, "the settings file shows no PostgreSQL URL"
    for url in urls:
        host = urlsplit(url).hostname
        if host and not host.startswith("/"):
            needed |= {"AF_INET", "AF_INET6"}
    assert needed <= allowed, f"RestrictAddressFamilies={families} lacks {needed - allowed}"


# --- the unit's commands, run as the unit runs them, without systemd ------

SERVICE_USER = "nobody"   # the unit's sqlite-fcgi user is not created here
SERVICE_GROUP = "www-data"


def session_members(sid):
    """Live processes of session sid (a service's main process is a session
    leader: here the session stands for the unit's control group)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            members.append(int(entry))
    return sorted(members)


class Unit:
    """One instance of the installed unit, run as systemd runs it: its Exec*
    lines with %i and ${MAINPID} filled in, its Environment= and
    EnvironmentFile=, as SERVICE_USER in SERVICE_GROUP with UMask=0077, the
    main process a session leader; its stop as KillMode= and KillSignal= say.
    The unit's paths are mapped into the installed tree (`Installed`)."""

    def __init__(self, installed, instance):
        self.instance = instance
        text = installed.unit_text.replace("%i", str(instance))
        for path, there in installed.paths.items():
            text = text.replace(path, str(there))
        self.text = text
        self.settings = unit_settings(text)
        self.commands = unit_commands(text)
        self.log = installed.log
        self.main = None

    def _argv(self, argv):
        pid = str(self.main.pid) if self.main else ""
        return [a.replace("${MAINPID}", pid) for a in argv]

    def _as_service(self):
        # The settings file is read when the unit starts, as systemd does.
        return dict(env=service_environment(self.text), user=SERVICE_USER, group=SERVICE_GROUP,
                    extra_groups=[], umask=0o077)

    def _run(self, key):
        for argv in self.commands.get(key, []):
            result = subprocess.run(self._argv(argv), capture_output=True, text=True, timeout=60,
                                    **self._as_service())
            assert result.returncode == 0, f"{key}: {result.stderr}"

    def start(self):
        (argv,) = self.commands["ExecStart"]
        self.main = subprocess.Popen(self._argv(argv), stdout=self.log, stderr=self.log,
                                     start_new_session=True, **self._as_service())
        self._run("ExecStartPost")

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.main.pid)], capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def exec_stop(self):
        self._run("ExecStop")

    def kill(self):
        """What systemd does after ExecStop: KillSignal= to the main process
        alone under KillMode=mixed, the only mode this emulates."""
        (mode,) = self.settings.get("KillMode", ["control-group"])
        assert mode == "mixed", f"KillMode={mode}: the test emulates KillMode=mixed only"
        (name,) = self.settings.get("KillSignal", ["SIGTERM"])
        self.main.send_signal(signal.Signals[name])

    def wait_stopped(self):
        """Waits TimeoutStopSec= for the main process to exit, then, as
        systemd does under KillMode=mixed, SIGKILLs what is left of the
        unit's processes, and runs ExecStopPost. Returns the pids it had
        to kill."""
        (timeout,) = self.settings.get("TimeoutStopSec", ["90"])
        try:
            self.main.wait(seconds(timeout))
        except subprocess.TimeoutExpired:
            pass
        left = session_members(self.main.pid)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.main.wait()
        self._run("ExecStopPost")
        return left

    def stop(self):
        """systemctl stop: ExecStop, the kill, the wait; the pids killed at the end."""
        if self.main is None or self.main.poll() is not None:
            return []
        self.exec_stop()
        self.kill()
        return self.wait_stopped()

    def discard(self):
        """After a test, whatever state it left: the stop, and in any case
        no process of the unit left behind."""
        if self.main is None:
            return
        try:
            self.stop()
        finally:
            for p in session_members(self.main.pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.main.poll() is None:
                self.main.kill()
            self.main.wait()


class Installed:
    """make install into a staging tree, with what the host would have
    around it: the unit's RuntimeDirectory= and StateDirectory= (the service
    user's), the settings file, and nginx running the installed site on a
    free port with its workers as www-data. Lives under /tmp with search
    permission for the service user and for www-data (pytest's own
    temporary directories are private to root)."""

    def __init__(self):
        self.top = Path(tempfile.mkdtemp(prefix="sqlite-fcgi-unit-"))
        self.units = []
        self.nginx = None
        self.log = None

    def install(self):
        self.top.chmod(0o755)
        self.dest = self.top / "stage"
        make("install", self.dest)
        self.unit_text = (self.dest / UNIT).read_text()
        self.run_dir, self.state_dir = self.top / "run", self.top / "lib"
        for d, mode in ((self.run_dir, 0o750), (self.state_dir, 0o700)):
            d.mkdir()
            shutil.chown(d, SERVICE_USER, SERVICE_GROUP)
            d.chmod(mode)
        self.settings_file = self.dest / DEFAULTS
        # The unit's paths, and where they are here.
        self.paths = {"/run/sqlite-fcgi": self.run_dir, "/var/lib/sqlite-fcgi": self.state_dir,
                      "/usr/lib/sqlite-fcgi/": f"{self.dest}/usr/lib/sqlite-fcgi/",
                      "/usr/bin/sqlite-fcgi": self.dest / "usr/bin/sqlite-fcgi",
                      "/etc/default/sqlite-fcgi": self.settings_file}
        self.db_path = self.state_dir / "db.sqlite3"
        self.log_path = self.top / "pools.log"
        self.log = open(self.log_path, "ab")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def configure(self, **settings):
        """Lines appended to the installed settings file, as an operator would."""
        with open(self.settings_file, "a") as f:
            f.writelines(f"{k}={v}\n" for k, v in settings.items())

    def unit(self, instance):
        u = Unit(self, instance)
        self.units.append(u)
        return u

    def start_nginx(self):
        ngx = self.top / "nginx"
        (ngx / "tmp").mkdir(parents=True)
        site = (self.dest / SITE).read_text().replace("/run/sqlite-fcgi", str(self.run_dir))
        site = site.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("/var/log/nginx/sqlite-fcgi.access.log", str(ngx / "access.log"))
        (ngx / "site.conf").write_text(site)
        (ngx / "nginx.conf").write_text(minimal_main(ngx, "site.conf", user="www-data www-data"))
        self.nginx = subprocess.Popen(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf"),
                                       "-e", str(ngx / "error.log"), "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._nginx_answers, timeout=10, what="nginx on the installed site")

    def _nginx_answers(self):
        try:
            return requests.get(self.url("/healthz"), timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def url(self, path):
        return self.base + path

    def get(self, path):
        return requests.get(self.url(path), timeout=30)

    def pool_log(self):
        return self.log_path.read_text(errors="replace")

    def close(self):
        """Stops all it started, even after a failed check; then raises the
        first error a stop met."""
        errors = []
        if self.nginx is not None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(15)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        for u in self.units:
            try:
                u.discard()
            except Exception as e:  # the others are stopped all the same
                errors.append(e)
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.top, ignore_errors=True)
        if errors:
            raise errors[0]


@pytest.fixture
def installed():
    inst = Installed()
    try:
        inst.install()
        yield inst
    finally:
        inst.close()


def test_unit_commands_serve_behind_the_site_and_resize(installed):
    installed.configure(HASH_METHOD="sha512crypt", HASH_COST=1000)
    run_dir = installed.run_dir
    first = installed.unit(2)
    first.start()
    assert os.readlink(run_dir / "fcgi.sock") == "pool-2.sock"
    sock = (run_dir / "pool-2.sock").stat()
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o660
    assert sock.st_gid == grp.getgrnam(SERVICE_GROUP).gr_gid
    assert len(first.workers()) == 2

    installed.start_nginx()
    # nginx's workers run as www-data: they reach the socket through the group.
    assert installed.get("/create_user/").text == "User created, num users: 1"

    second = installed.unit(3)
    second.start()
    assert os.readlink(run_dir / "fcgi.sock") == "pool-3.sock"
    assert first.stop() == []
    assert not (run_dir / "pool-2.sock").exists()
    assert len(second.workers()) == 3
    assert installed.get("/create_user/").text == "User created, num users: 2"

    db = installed.db_path
    assert db.stat().st_uid == pwd.getpwnam(SERVICE_USER).pw_uid
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.parametrize("threads", [1, 4], ids=lambda n: f"{n}-threads")
def test_unit_stop_finishes_the_request_in_flight(installed, threads):
    """systemctl stop sqlite-fcgi@3 as the unit defines it (docs/operating.md,
    "Stopping"): ExecStop (the drain returns at once, the link points at this
    pool), then KillSignal= to multiwatch alone (KillMode=mixed). A request is
    provably in flight, its worker blocked on the write lock file the test
    holds, while reads keep the other two workers busy. Those two stop;
    multiwatch waits for the busy one, which has taken the graceful signal;
    once the lock is let go the request is answered 200, the worker exits,
    then multiwatch, and nothing is left for the SIGKILL that follows the
    main process's exit under KillMode=mixed."""
    unit = installed.unit(3)
    # The unit says what the docs say.
    assert unit.settings["KillMode"] == ["mixed"]
    assert unit.settings["KillSignal"] == ["SIGTERM"]
    assert unit.settings["TimeoutStopSec"] == ["40"]
    # A write waits for the held lock rather than the 5 s busy timeout.
    installed.configure(SQLITE_BUSY_TIMEOUT_MS=60000, HASH_METHOD="sha512crypt", HASH_COST=1000,
                        WORKER_THREADS=threads)
    unit.start()
    installed.start_nginx()
    multiwatch, workers = unit.main.pid, unit.workers()
    assert len(workers) == 3
    assert installed.get("/create_user/").text == "User created, num users: 1"
    # Exit order: the lock is let go first, then the reads and the client are waited for.
    with ThreadPoolExecutor(1) as client, \
            GetLoad(installed.url("/users/count"), 2, lambda r: r.status_code == 200) as reads, \
            HeldWriteLock(installed.db_path) as lock:
        in_flight = client.submit(installed.get, "/create_user/")
        busy = lock.wait_for_waiter()
        assert busy in workers
        # WORKER_THREADS reached the workers through the settings file.
        assert len(os.listdir(f"/proc/{busy}/task")) == threads + 1
        reads.served(20)  # the other workers answer meanwhile
        assert reads.failures == []
        unit.exec_stop()
        unit.kill()
        idle = set(workers) - {busy}
        wait_for(lambda: all(stopped_after(installed.pool_log(), p) is not None for p in idle),
                 what="the idle workers' stop")
        # Reaped by multiwatch, which sent its graceful signal to the busy
        # worker too: taken, and the worker finishes what it holds first.
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in idle),
                 what="the idle workers' exit")
        # In flight: the write, and with several threads maybe a read beside it.
        sig, answering = wait_for(lambda: stop_requested(installed.pool_log(), busy),
                                  what="the busy worker's stop request")
        assert sig == "SIGUSR1" and 1 <= answering <= threads, (sig, answering)
        assert unit.main.poll() is None, "multiwatch exited with a request in flight"
        assert unit.workers() == [busy]
        assert not in_flight.done()
        assert stopped_after(installed.pool_log(), busy) is None
        lock.release()
        answer = in_flight.result()
        killed = unit.wait_stopped()
    assert (answer.status_code, answer.text) == (200, "User created, num users: 2")
    # The worker stopped after answering, then multiwatch: nothing was left to kill.
    assert stopped_after(installed.pool_log(), busy) is not None
    assert killed == []
    for p in [multiwatch] + workers:
        assert not os.path.exists(f"/proc/{p}"), f"pid {p} still running"
    # Reads either answered, or, sent once the pool no longer took
    # connections, failed as requests to a stopped pool do.
    assert reads.ok >= 20
    assert all(f.startswith("502 ") for f in reads.failures), reads.failures[:5]
    assert not (installed.run_dir / "pool-3.sock").exists()
