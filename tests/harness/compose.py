"""docker-compose.yml run for real: a Docker engine (started here when none
answers, and stopped again) or podman, and the compose command that goes
with it.

    with engine_for(os.environ.get("COMPOSE_ENGINE", "docker"), tmp) as engine:
        project = Project(engine, "name", env)
        project.compose("up", "-d")

Docker: `docker compose` (the v2 plugin) where it exists, else `docker-compose`
(1.29, the v1 command, which is what Debian 12 packages).  A dockerd started
here gets SIGTERM at the end and the host's network is put back as it was
(hostnet.py).  podman: podman-compose with the project's deploy/containers/containers.conf.
"""

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.harness import hostnet
from bench.harness.stack import ROOT

DOCKER_SOCKET = "unix:///var/run/docker.sock"
# dockerd answers `docker info` about 1 s after it starts here; 60 s is the
# margin for a loaded machine and a first start that creates /var/lib/docker.
DOCKERD_START_S = 60
# It stops its containers (none left by then) and its containerd: seconds.
DOCKERD_STOP_S = 60
BASE_IMAGE_SCRIPT = ROOT / "tests" / "compose" / "base-image.sh"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def say(msg):
    print(f"test-compose: {msg}", flush=True)


def _answers(cmd, timeout=20):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Engine:
    """An engine command (docker, podman), its compose command and the
    environment both need."""

    def __init__(self, name, compose, env=None):
        self.name = name
        self.compose = compose
        self.env = dict(os.environ if env is None else env)

    def run(self, *args, timeout=60, check=True, **kw):
        return subprocess.run([self.name, *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=check, **kw)

    def base_image(self):
        """debian:bookworm-slim: present, pulled, or made with debootstrap."""
        env = dict(self.env, ENGINE=self.name)
        # debootstrap takes about 50 s; a slow mirror gets the rest.
        subprocess.run([str(BASE_IMAGE_SCRIPT)], env=env, check=True, timeout=1200)

    def run_healthchecks(self, container):
        """Nothing for Docker (dockerd runs them); see PodmanEngine."""


class PodmanEngine(Engine):
    def run_healthchecks(self, container):
        # podman runs healthchecks from systemd timers, absent here: run the
        # container's own healthcheck command now instead.
        self.run("healthcheck", "run", container, check=False)


def docker_compose_command():
    """["docker", "compose"] where the v2 plugin exists, else ["docker-compose"]."""
    if _answers(["docker", "compose", "version"]):
        return ["docker", "compose"]
    return ["docker-compose"]


@contextlib.contextmanager
def dockerd(log_path):
    """A Docker engine that answers: the one running, or one started here and
    stopped (and the host's network put back) on the way out."""
    if _answers(["docker", "info"]):
        say("using the Docker engine that is running")
        yield
        return
    before = hostnet.Snapshot.take()
    log = open(log_path, "ab")
    proc = subprocess.Popen(["dockerd", f"--host={DOCKER_SOCKET}"], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        t0 = time.monotonic()
        while not _answers(["docker", "info"], timeout=10):
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with status {proc.returncode} "
                                   f"(see {log_path}):\n{Path(log_path).read_text()[-2000:]}")
            if time.monotonic() - t0 > DOCKERD_START_S:
                raise RuntimeError(f"dockerd did not answer within {DOCKERD_START_S} s "
                                   f"(see {log_path})")
            time.sleep(0.2)
        say(f"started dockerd (pid {proc.pid}), answering after {time.monotonic() - t0:.1f} s")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=DOCKERD_STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        say(f"stopped dockerd (exit status {proc.returncode})")
        for what in hostnet.restore(before):
            say(f"host: {what}")
        left = hostnet.Snapshot.take().docker_part()
        if left != before.docker_part():
            raise RuntimeError(f"the host's network differs from before dockerd:\n"
                               f"before: {before.docker_part()}\nafter:  {left}")


def podman_env(tmp):
    """The project's podman settings (deploy/containers/containers.conf), with the
    default ulimits lowered to the host's own hard limits where those are
    lower (a root without CAP_SYS_RESOURCE cannot raise them)."""
    conf = (ROOT / "deploy" / "containers" / "containers.conf").read_text()
    limits = Path("/proc/self/limits").read_text()

    def hard(name, cap):
        m = re.search(rf"^{name}\s+\S+\s+(\S+)", limits, re.M)
        return cap if not m or m.group(1) == "unlimited" else min(cap, int(m.group(1)))

    nofile, nproc = hard("Max open files", 20000), hard("Max processes", 4096)
    conf = re.sub(r"^default_ulimits = .*$",
                  f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]',
                  conf, flags=re.M)
    path = Path(tmp) / "containers.conf"
    path.write_text(conf)
    # BUILDAH_FORMAT=docker keeps the Dockerfiles' HEALTHCHECK in the images
    # (the OCI format drops it).
    return dict(os.environ, CONTAINERS_CONF=str(path), BUILDAH_FORMAT="docker")


@contextlib.contextmanager
def engine_for(name, tmp):
    """The Engine called name ("docker" or "podman"), ready to use."""
    if name == "docker":
        with dockerd(Path(tmp) / "dockerd.log"):
            yield Engine("docker", docker_compose_command())
    elif name == "podman":
        if not (_answers(["podman", "--version"]) and _answers(["podman-compose", "version"])):
            raise RuntimeError("COMPOSE_ENGINE=podman needs podman and podman-compose "
                               "(deploy/deps/install-deps.sh compose)")
        # podman-compose 1.0 lets a .env beside the compose file win over the
        # environment, so it would override what the test sets.
        if (ROOT / ".env").exists():
            raise RuntimeError(f".env exists in {ROOT} and podman-compose would prefer it: "
                               "move it away while the test runs")
        yield PodmanEngine("podman", ["podman-compose"], podman_env(tmp))
    else:
        raise ValueError(f"COMPOSE_ENGINE={name}: must be docker or podman")


class Project:
    """One compose project of docker-compose.yml (and the override files
    given, e.g. docker-compose.postgres.yml), under its own name."""

    def __init__(self, engine, name, env, overrides=()):
        self.engine = engine
        self.name = name
        self.env = dict(engine.env, **env)
        self.files = ["docker-compose.yml", *overrides]

    def compose(self, *args, timeout=180, check=True):
        files = [arg for f in self.files for arg in ("-f", str(ROOT / f))]
        cmd = [*self.engine.compose, "-p", self.name, *files, *args]
        r = subprocess.run(cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit status {r.returncode}\n"
                               f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
        return r

    def container(self, service, all_states=False):
        """The id of the service's container ("" when there is none)."""
        r = self.engine.run("ps", *(["-a"] if all_states else []), "-q",
                            "--filter", f"label={PROJECT_LABEL}={self.name}",
                            "--filter", f"label={SERVICE_LABEL}={service}")
        return (r.stdout.split() or [""])[0]

    def exec(self, service, *cmd, timeout=30):
        return self.engine.run("exec", self.container(service), *cmd, timeout=timeout).stdout

    def health(self, service):
        c = self.container(service)
        if not c:
            return "no container"
        self.engine.run_healthchecks(c)
        r = self.engine.run("inspect", "--format", "{{.State.Health.Status}}", c, check=False)
        return r.stdout.strip() or r.stderr.strip()

    def logs(self, service, lines=15):
        c = self.container(service, all_states=True)
        if not c:
            return f"(no {service} container)"
        r = self.engine.run("logs", "--tail", str(lines), c, check=False)
        return r.stdout + r.stderr

    def remove(self):
        """down -v, then whatever down left behind (an interrupted start), by
        this project's label only."""
        self.compose("down", "-v", timeout=120, check=False)
        left = self.engine.run("ps", "-aq", "--filter", f"label={PROJECT_LABEL}={self.name}",
                               check=False).stdout.split()
        if left:
            self.engine.run("rm", "-f", *left, check=False)
        for volume in ("data", "sock", "pgdata", "pgstandby"):
            self.engine.run("volume", "rm", "-f", f"{self.name}_{volume}", check=False)
        self.engine.run("network", "rm", f"{self.name}_default", check=False)

    def leftovers(self):
        """The containers, volumes and networks of this project that still
        exist (compose names its volumes and networks <project>_<name>)."""
        containers = self.engine.run("ps", "-aq", "--filter",
                                     f"label={PROJECT_LABEL}={self.name}").stdout.split()
        named = [name for kind in ("volume", "network")
                 for name in self.engine.run(kind, "ls", "--format", "{{.Name}}").stdout.split()
                 if name.startswith(f"{self.name}_")]
        return containers + named
