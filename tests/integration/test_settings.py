"""Every list of settings in the repository agrees with the binary's own table
(app/src/config.c, printed by `sqlite-fcgi config --names/--markdown/--list`)."""

import re
import subprocess

import pytest

from bench.harness.settings import setting_names
from bench.harness.stack import BINARY, ROOT, Stack


def config(*args, env=None):
    return subprocess.run([str(BINARY), "config", *args], capture_output=True, text=True,
                          check=True, timeout=30, env=env).stdout


def tuned_defaults():
    """NAME -> the tuned profile's default, for settings with a written default."""
    env = {"PATH": "/usr/bin:/bin"}
    printed = dict(line.split("=", 1) for line in config(env=env).splitlines()
                   if re.match(r"^[A-Z_]+=", line))
    # Computed defaults (CPUs + 1, DB_PATH-metrics) depend on where this runs.
    return {k: v for k, v in printed.items() if k not in ("WORKERS", "METRICS_PATH")}


SETTINGS = None


def settings():
    global SETTINGS
    if SETTINGS is None:
        SETTINGS = setting_names()
    return SETTINGS


def test_names_match_the_listings():
    listed = re.findall(r"^\| `([A-Z_]+)` \|", config("--markdown"), re.M)
    text = re.findall(r"^([A-Z_]+)$", config("--list"), re.M)
    primary = [n for n in settings() if n != "WEB_CONCURRENCY"]
    assert listed == primary
    assert text == primary
    assert len(set(settings())) == len(settings())


def test_readme_settings_table_is_the_binary_listing():
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- settings:[^\n]*-->\n(.*?)<!-- end of settings -->", readme, re.S)
    assert m, "README.md has no settings table between its markers"
    assert m.group(1) == config("--markdown"), \
        "README.md's settings table differs: paste `build/sqlite-fcgi config --markdown`"


def test_help_lists_every_setting():
    out = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    for name in settings():
        assert name in out


def file_names(path, pattern):
    return re.findall(pattern, (ROOT / path).read_text(), re.M)


def check_listing(found, absent_on_purpose, others=(), own_values=()):
    """found: [(NAME, value or '')] from a file. Every setting is there but the
    ones left out on purpose; no name is unknown; a written value is the default."""
    names = [n for n, _ in found]
    unknown = set(names) - set(settings()) - set(others)
    assert not unknown, f"not a setting of the binary: {sorted(unknown)}"
    missing = set(settings()) - set(names) - set(absent_on_purpose)
    assert not missing, f"settings missing: {sorted(missing)}"
    defaults = tuned_defaults()
    for name, value in found:
        if value and name in defaults and name not in own_values:
            assert value == defaults[name], f"{name}={value}, but the default is {defaults[name]}"


def test_env_example():
    found = file_names(".env.example", r"^([A-Z_]+)=(.*)$")
    # DB_PATH and METRICS_PATH are the image's (the volume); POOL_TIMEOUT is
    # systemd's (the container runs one pool); FCGI_LISTEN and APP_UPSTREAMS
    # are for several hosts, not the two containers. BIND_ADDRESS is compose's own,
    # POSTGRES_PASSWORD the PostgreSQL variant's (docker-compose.postgres.yml),
    # POSTGRES_REPLICATION_PASSWORD its standby's (docker-compose.standby.yml).
    # METRICS_ALLOW is nginx's, rendered into the nginx image when it is built.
    check_listing(found, {"DB_PATH", "METRICS_PATH", "POOL_TIMEOUT", "FCGI_LISTEN",
                          "APP_UPSTREAMS", "METRICS_ALLOW"},
                  {"BIND_ADDRESS", "POSTGRES_PASSWORD", "POSTGRES_REPLICATION_PASSWORD"})


def test_systemd_defaults():
    found = file_names("deploy/systemd/sqlite-fcgi.default", r"^#?([A-Z_]+)=(.*)$")
    # The worker count is the instance name; PORT is nginx's, not the pool's;
    # METRICS_PATH is set by deploy/pool/workers.sh for each pool.
    # Its DB_PATH is the package's (/var/lib/sqlite-fcgi), not the checkout's.
    # The unit serves on its unix socket: FCGI_LISTEN and APP_UPSTREAMS are
    # deploy/local/stack.sh's (docs/hosts.md). METRICS_ALLOW is the nginx site's
    # (make install METRICS_ALLOW=...), not the pool's.
    check_listing(found, {"WORKERS", "WEB_CONCURRENCY", "PORT", "METRICS_PATH", "FCGI_LISTEN",
                          "APP_UPSTREAMS", "METRICS_ALLOW"}, own_values={"DB_PATH"})


def test_docker_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    block = re.search(r"^    environment:\n((?:      .*\n)+)", text, re.M)
    assert block, "docker-compose.yml: the app's environment block is missing"
    found = []
    for name, value in re.findall(r"^      ([A-Z_]+):[ \t]*(.*)$", block.group(1), re.M):
        default = re.match(r"\$\{[A-Z_]+:-([^}]*)\}", value)
        comment = re.search(r"# default: (\S+)$", value)
        found.append((name, default.group(1) if default else
                       comment.group(1) if comment else ""))
    # DB_PATH is the image's (the volume), PORT is nginx's host port (below),
    # POOL_TIMEOUT is systemd's, METRICS_PATH is deploy/pool/workers.sh's; the
    # containers share a unix socket (FCGI_LISTEN, APP_UPSTREAMS: docs/hosts.md);
    # METRICS_ALLOW is rendered into the nginx image when it is built.
    check_listing(found, {"DB_PATH", "METRICS_PATH", "PORT", "POOL_TIMEOUT", "FCGI_LISTEN",
                          "APP_UPSTREAMS", "METRICS_ALLOW"})


def test_stack_clears_every_setting(tmp_path, monkeypatch):
    for name in settings():
        monkeypatch.setenv(name, "from-the-shell")
    stack = Stack(tmp_path)
    leaked = [n for n in settings() if stack.env.get(n) == "from-the-shell"]
    assert not leaked


@pytest.mark.parametrize("name", ["WRITE_LOCK_WAIT", "POOL_TIMEOUT", "MULTIWATCH_RETRIES",
                                  "FCGI_LISTEN", "APP_UPSTREAMS", "METRICS_ALLOW"])
def test_a_bad_value_is_refused_by_name(name):
    result = subprocess.run([str(BINARY), "config"], capture_output=True, text=True, timeout=30,
                            env={"PATH": "/usr/bin:/bin", name: "bogus"})
    assert result.returncode != 0
    assert f"{name}=bogus: must be" in result.stderr


def test_the_test_stack_clears_every_setting_of_the_shell(monkeypatch, tmp_path):
    """A developer's shell full of settings changes nothing a test runs: the
    stack's environment holds only what the test gave it."""
    from bench.harness.settings import SCRIPT_SETTINGS
    from bench.harness.stack import Stack
    for name in setting_names() + SCRIPT_SETTINGS:
        monkeypatch.setenv(name, "leaked-from-the-shell")
    s = Stack(tmp_path / "s", WORKERS=2)
    leaked = {k for k, v in s.env.items() if v == "leaked-from-the-shell"}
    assert leaked == set()
    assert {k for k in s.env if k in setting_names() or k in SCRIPT_SETTINGS} == {
        "PORT", "RUN_DIR", "DB_PATH", "SQLITE_FCGI", "WORKERS"}


@pytest.mark.parametrize("args", [["config"], ["config", "--list"], ["config", "--names"],
                                  ["--help"]])
def test_output_to_a_full_disk_fails_with_the_cause(args):
    """A listing that did not reach its reader is a failure, said on stderr:
    /dev/full refuses every write with ENOSPC."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(BINARY), *args], stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "writing the output failed: No space left on device" in result.stderr
