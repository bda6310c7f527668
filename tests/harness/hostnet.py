"""What dockerd changes in the host's network, recorded before it starts and
put back after it stops.

dockerd 20.10 sets net.ipv4.ip_forward=1, sets the iptables FORWARD policy to
DROP, adds its DOCKER* chains and the rules that jump to them (filter and
nat), and creates the docker0 bridge; all of it outlasts dockerd.  Only what
is dockerd's is touched on the way back (chains named DOCKER*, rules naming
them or docker0 or a docker network's br-<id> bridge): rules that other
programs (podman's CNI-*/NETAVARK* chains, a firewall) add meanwhile stay.
"""

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
TABLES = ("filter", "nat")
COMMANDS = ("iptables", "ip6tables")
BRIDGE = "docker0"
# A rule or chain of dockerd's: its chains, its default bridge, the bridges
# of its user networks (br- and the first 12 hex digits of the network id).
DOCKERS = re.compile(r"\bDOCKER[A-Z0-9-]*\b|\bdocker0\b|\bbr-[0-9a-f]{12}\b")


def _run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _rules(command, table):
    """`iptables -t TABLE -S`, one entry a line; empty when the table is absent."""
    out = _run([command, "-t", table, "-S"])
    return out.stdout.splitlines() if out.returncode == 0 else []


def _link_exists(name):
    return _run(["ip", "link", "show", name]).returncode == 0


@dataclass
class Snapshot:
    ip_forward: str
    rules: dict      # (command, table) -> list of `-S` lines
    bridge: bool     # docker0 exists

    @classmethod
    def take(cls):
        return cls(ip_forward=IP_FORWARD.read_text().strip(),
                   rules={(c, t): _rules(c, t) for c in COMMANDS for t in TABLES},
                   bridge=_link_exists(BRIDGE))

    def docker_part(self):
        """What a comparison should look at: dockerd's rules and chains, the
        built-in chains' policies, ip_forward and docker0."""
        rules = {k: [r for r in v if r.startswith("-P ") or DOCKERS.search(r)]
                 for k, v in self.rules.items()}
        return self.ip_forward, rules, self.bridge


def restore(before):
    """Puts back what dockerd changed since `before` (dockerd must be stopped).

    Returns the list of what it did, for the log; raises RuntimeError with
    every step that failed."""
    done, failed = [], []

    def step(cmd, what):
        r = _run(cmd)
        (done if r.returncode == 0 else failed).append(
            what if r.returncode == 0 else f"{what}: {' '.join(cmd)}: {r.stderr.strip()}")

    now = Snapshot.take()
    for (command, table), lines in now.rules.items():
        old = set(before.rules[(command, table)])
        added = [line for line in lines if line not in old and DOCKERS.search(line)]
        # Rules first (a chain that is still referenced cannot be deleted).
        for line in added:
            if line.startswith("-A "):
                args = shlex.split(line)
                args[0] = "-D"
                step([command, "-t", table, *args], f"{command} -t {table}: removed {line}")
        for line in added:
            if line.startswith("-N "):
                chain = line.split()[1]
                step([command, "-t", table, "-F", chain], f"{command} -t {table}: flushed {chain}")
                step([command, "-t", table, "-X", chain], f"{command} -t {table}: deleted {chain}")
        old_policies = {line.split()[1]: line.split()[2]
                        for line in before.rules[(command, table)] if line.startswith("-P ")}
        for line in lines:
            if line.startswith("-P "):
                _, chain, policy = line.split()
                if old_policies.get(chain, policy) != policy:
                    step([command, "-t", table, "-P", chain, old_policies[chain]],
                         f"{command} -t {table}: {chain} policy {policy} -> {old_policies[chain]}")
    if now.ip_forward != before.ip_forward:
        try:
            IP_FORWARD.write_text(before.ip_forward + "\n")
            done.append(f"net.ipv4.ip_forward {now.ip_forward} -> {before.ip_forward}")
        except OSError as e:
            failed.append(f"net.ipv4.ip_forward: {e}")
    if now.bridge and not before.bridge:
        step(["ip", "link", "delete", BRIDGE], f"deleted the {BRIDGE} bridge")
    if failed:
        raise RuntimeError("the host's network was not put back:\n  " + "\n  ".join(failed))
    return done
