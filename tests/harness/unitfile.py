"""A systemd unit file read the way systemd reads the parts the tests run:
its Key=value settings, its Exec*= command lines and the environment a
service starts with, so that a test follows what the unit says rather than
a copy of it (systemd itself is not PID 1 on the test machines)."""

import re

# systemd's PATH for a service (systemd.exec(5), "Environment variables in
# spawned processes").
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unit_settings(text):
    """Key=value lines of a unit (every section), continuation lines joined,
    comments left out, as {key: [value, ...]} in the order they appear."""
    text = re.sub(r"\\\n\s*", " ", text)
    settings = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)=(.*)$", line.strip())
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2).strip())
    return settings


def unit_commands(text):
    """Exec*= lines of a unit as {key: [argv, ...]}."""
    return {key: [value.split() for value in values]
            for key, values in unit_settings(text).items() if key.startswith("Exec")}


def unit_environment(text):
    """The Environment= assignments of a unit, as a dict."""
    env = {}
    for value in unit_settings(text).get("Environment", []):
        name, _, v = value.partition("=")
        env[name] = v
    return env


def environment_file(path):
    """VARIABLE=value lines of an EnvironmentFile= (comments start with # or ;)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            name, sep, value = line.partition("=")
            if sep:
                env[name.strip()] = value.strip().strip("\"'")
    return env


def service_environment(text):
    """What the unit's processes start with: systemd's PATH, then
    Environment=, then each EnvironmentFile= in turn (a later assignment
    wins; "-" before the path: a missing file is no error)."""
    env = {"PATH": SERVICE_PATH}
    env.update(unit_environment(text))
    for value in unit_settings(text).get("EnvironmentFile", []):
        optional = value.startswith("-")
        path = value[1:] if optional else value
        try:
            env.update(environment_file(path))
        except FileNotFoundError:
            if not optional:
                raise
    return env


def seconds(value):
    """A time span of a unit (TimeoutStopSec=40, 40s, 2min) in seconds."""
    m = re.fullmatch(r"(\d+)\s*(s|sec|min)?", value)
    assert m, f"time span {value!r}: only N, Ns and Nmin are read here"
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)
