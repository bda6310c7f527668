"""Free TCP ports on loopback, for the servers the tools and the tests start."""

import random
import socket
from pathlib import Path

# The port a developer's own `make run` uses: never handed to a test.
RESERVED = 8000
# Where the servers' ports are drawn from: below the kernel's ephemeral range
# (ip_local_port_range), which every client connection takes its own port
# from.  A port found free there and then handed to a server cannot be taken
# meanwhile by a connection of a load running beside it (wrk's hundred, in a
# quick make bench): nginx's bind would then fail with "Address already in use".
LOWEST = 10000


def ephemeral_start():
    """The first port of the kernel's ephemeral range (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1"):
    """A port nothing listens on now, below the ephemeral range (the kernel's
    choice when that range leaves no room below it), never RESERVED."""
    top = ephemeral_start()
    while True:
        port = random.randrange(LOWEST, top) if top > LOWEST + 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # taken: draw another
            port = s.getsockname()[1]
        if port != RESERVED:
            return port
