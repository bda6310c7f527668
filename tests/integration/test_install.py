"""make install / make uninstall into a staging directory (DESTDIR), and the
installed unit's commands run as the unit runs them: an unprivileged user in
group www-data, behind the installed nginx site with nginx's workers as
www-data, changing the worker count by a second pool."""

import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.harness.ports import free_port
from tests.harness.stack import BINARY, ROOT
from tests.harness.nginxconf import nginx_t

PREFIX = "/usr"
UNIT = "etc/systemd/system/sqlite-fcgi@.service"
SITE = "etc/nginx/sites-available/sqlite-fcgi"
DEFAULTS = "etc/default/sqlite-fcgi"
FILES = {  # path under DESTDIR: mode
    "usr/bin/sqlite-fcgi": 0o755,
    "usr/lib/sqlite-fcgi/workers.sh": 0o755,
    UNIT: 0o644,
    DEFAULTS: 0o644,
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


def unit_commands(text):
    """Exec*= lines of a unit, continuation lines joined, as {key: [argv, ...]}."""
    text = re.sub(r"\\\n\s*", " ", text)
    commands = {}
    for line in text.splitlines():
        m = re.match(r"^(Exec\w+)=(.*)$", line)
        if m:
            commands.setdefault(m.group(1), []).append(m.group(2).split())
    return commands


def test_install_lays_out_the_files(staged):
    dest, out = staged
    for rel, mode in FILES.items():
        path = dest / rel
        assert path.is_file(), rel
        assert stat.S_IMODE(path.stat().st_mode) == mode, rel
    assert (dest / "usr/bin/sqlite-fcgi").read_bytes() == BINARY.read_bytes()
    assert (dest / "usr/lib/sqlite-fcgi/workers.sh").read_bytes() == \
        (ROOT / "deploy/workers.sh").read_bytes()
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


# --- the unit's commands, run as the unit runs them, without systemd ------

SERVICE_USER = "nobody"   # the unit's sqlite-fcgi user is not created here
SERVICE_GROUP = "www-data"


class Unit:
    """One instance of the installed unit: its Exec* lines with %i, ${MAINPID}
    and the directories mapped into a test directory, run as SERVICE_USER in
    SERVICE_GROUP with UMask=0077, as systemd would."""

    def __init__(self, unit_text, dest, run_dir, state_dir, instance):
        self.instance = instance
        text = unit_text.replace("%i", str(instance)).replace("/run/sqlite-fcgi", str(run_dir))
        text = text.replace("/usr/lib/sqlite-fcgi/", f"{dest}/usr/lib/sqlite-fcgi/")
        text = text.replace("/usr/bin/sqlite-fcgi", f"{dest}/usr/bin/sqlite-fcgi")
        self.commands = unit_commands(text)
        self.env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "DB_PATH": f"{state_dir}/db.sqlite3",
                    "HASH_METHOD": "sha512crypt", "HASH_COST": "1000"}
        self.main = None

    def _argv(self, argv):
        pid = str(self.main.pid) if self.main else ""
        return [a.replace("${MAINPID}", pid) for a in argv]

    def _run(self, key):
        for argv in self.commands[key]:
            result = subprocess.run(self._argv(argv), env=self.env, user=SERVICE_USER,
                                    group=SERVICE_GROUP, extra_groups=[], umask=0o077,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, f"{key}: {result.stderr}"

    def start(self, log):
        (argv,) = self.commands["ExecStart"]
        self.main = subprocess.Popen(self._argv(argv), env=self.env, user=SERVICE_USER,
                                     group=SERVICE_GROUP, extra_groups=[], umask=0o077,
                                     stdout=log, stderr=log, start_new_session=True)
        self._run("ExecStartPost")

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.main.pid)], capture_output=True, text=True)
        return out.stdout.split()

    def stop(self):
        """ExecStop, then KillMode=mixed: SIGTERM to the main process alone."""
        if self.main is None or self.main.poll() is not None:
            return
        self._run("ExecStop")
        self.main.send_signal(signal.SIGTERM)
        try:
            self.main.wait(40)
        finally:
            if self.main.poll() is None:
                os.killpg(self.main.pid, signal.SIGKILL)
                self.main.wait()
        self._run("ExecStopPost")


def test_unit_commands_serve_behind_the_site_and_resize():
    # Under /tmp with search permission for the service user and for www-data
    # (pytest's own temporary directories are private to root).
    top = Path(tempfile.mkdtemp(prefix="sqlite-fcgi-unit-"))
    units = []
    nginx = None
    try:
        top.chmod(0o755)
        dest = top / "stage"
        make("install", dest)
        unit_text = (dest / UNIT).read_text()
        run_dir, state_dir = top / "run", top / "lib"
        for d, mode in ((run_dir, 0o750), (state_dir, 0o700)):
            d.mkdir()
            shutil.chown(d, SERVICE_USER, SERVICE_GROUP)  # RuntimeDirectory=, StateDirectory=
            d.chmod(mode)
        ngx = top / "nginx"
        (ngx / "tmp").mkdir(parents=True)
        port = free_port()
        site = (dest / SITE).read_text().replace("/run/sqlite-fcgi", str(run_dir))
        site = site.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{port};")
        site = site.replace("/var/log/nginx/sqlite-fcgi.access.log", str(ngx / "access.log"))
        (ngx / "site.conf").write_text(site)
        (ngx / "nginx.conf").write_text(minimal_main(ngx, "site.conf", user="www-data www-data"))
        log = open(top / "pools.log", "ab")

        first = Unit(unit_text, dest, run_dir, state_dir, 2)
        units.append(first)
        first.start(log)
        assert os.readlink(run_dir / "fcgi.sock") == "pool-2.sock"
        sock = (run_dir / "pool-2.sock").stat()
        assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o660
        assert sock.st_gid == grp.getgrnam(SERVICE_GROUP).gr_gid
        assert len(first.workers()) == 2

        nginx = subprocess.Popen(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf"),
                                  "-e", str(ngx / "error.log"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                r = requests.get(base + "/healthz", timeout=5)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        # nginx's workers run as www-data: they reach the socket through the group.
        assert requests.get(base + "/create_user/", timeout=10).text == "User created, num users: 1"

        second = Unit(unit_text, dest, run_dir, state_dir, 3)
        units.append(second)
        second.start(log)
        assert os.readlink(run_dir / "fcgi.sock") == "pool-3.sock"
        first.stop()
        assert not (run_dir / "pool-2.sock").exists()
        assert len(second.workers()) == 3
        assert requests.get(base + "/create_user/", timeout=10).text == "User created, num users: 2"

        db = state_dir / "db.sqlite3"
        assert db.stat().st_uid == pwd.getpwnam(SERVICE_USER).pw_uid
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(15)
        for u in units:
            u.stop()
        shutil.rmtree(top, ignore_errors=True)
