"""Free TCP ports on loopback."""

import socket

# The port a developer's own `make run` uses: never handed to a test.
RESERVED = 8000


def free_port(host="127.0.0.1"):
    """A port nothing listens on now (the kernel's choice), never RESERVED."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port != RESERVED:
            return port
