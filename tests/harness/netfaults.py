"""Network faults between the app pools and PostgreSQL, on loopback only.

Two tools, each for what it does faithfully (docs/hosts.md, "Network faults"):

- iptables, for what the kernel does to packets: a partition (every packet
  to or from a port DROPped, so established connections hang and new ones
  get no answer) and loss (a random share of them DROPped, so TCP resends
  them after its retransmission timeout, as on a lossy link).  This
  kernel has no netem; iptables' `statistic` match gives the loss.
- FaultProxy, a small asyncio TCP proxy in front of PostgreSQL, for what a
  packet filter cannot do: a delay with jitter (each chunk of the server's
  answers held 200 +- 50 ms, in order), and one connection that hangs in
  the middle of a transaction (its traffic stops at a marker, with both
  sockets left open), like toxiproxy's latency and timeout toxics.

Every iptables rule carries COMMENT; `clear_rules()` removes every rule
with it, and the context managers remove theirs whatever happens.
"""

import asyncio
import contextlib
import random
import subprocess
import threading
import time

from bench.harness.ports import free_port

COMMENT = "sqlite-fcgi-netfaults"


def _iptables(*args):
    subprocess.run(["iptables", *args], check=True, capture_output=True, text=True, timeout=30)


def _rules_for(port, probability=None):
    """The INPUT rules (on lo) that drop packets to and from port."""
    extra = ["-m", "statistic", "--mode", "random", "--probability", str(probability)] \
        if probability else []
    return [["INPUT", "-i", "lo", "-p", "tcp", f"--{way}", str(port), *extra,
             "-m", "comment", "--comment", COMMENT, "-j", "DROP"] for way in ("dport", "sport")]


def clear_rules():
    """Removes every rule of ours (left by a run that was killed)."""
    out = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True,
                         timeout=30).stdout
    for line in out.splitlines():
        if COMMENT in line and line.startswith("-A "):
            _iptables("-D", *line.split()[1:])


@contextlib.contextmanager
def dropped(ports, probability=None):
    """Packets to and from ports dropped (all, or the given share) while inside."""
    rules = [r for port in ports for r in _rules_for(port, probability)]
    added = []
    try:
        for rule in rules:
            _iptables("-I", *rule)
            added.append(rule)
        yield
    finally:
        # Each rule removed even if the removal of another fails.
        with contextlib.ExitStack() as removals:
            for rule in added:
                removals.callback(_iptables, "-D", *rule)


class FaultProxy:
    """host:port forwarding to upstream; delay and hang on demand (thread-safe)."""

    def __init__(self, host, upstream_host, upstream_port):
        self.host, self.port = host, free_port(host)
        self.upstream = (upstream_host, upstream_port)
        self.delay = None          # (mean s, jitter s) on the server's answers
        self._hang_marker = None   # bytes, and whether the chunk holding it passes
        self.hung = threading.Event()
        self.released = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def start(self):
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop)
        self._thread.join(10)

    async def _cancel_all(self):
        """Every connection's tasks cancelled and finished, then the loop stopped."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.stop()

    def set_delay(self, mean_s, jitter_s):
        self.delay = (mean_s, jitter_s)

    def clear_delay(self):
        self.delay = None

    def hang_at(self, marker, forward=False):
        """The next connection whose client sends marker stops there (forward:
        the chunk holding it still reaches the server, its answer does not)."""
        self.hung.clear()
        self.released.clear()
        self._hang_marker = (marker, forward)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, self.host, self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _serve(self, client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        conn = {"hung": False}
        down = asyncio.ensure_future(self._downstream(server_r, client_w, conn))
        try:
            await self._upstream(client_r, server_w, conn)
        except OSError:
            pass  # either side reset: the connection ends, as a real one would
        # The client is gone: so is the connection, hung or not.
        down.cancel()
        for w in (client_w, server_w):
            w.close()
        if conn["hung"]:
            self.released.set()

    async def _upstream(self, reader, writer, conn):
        while data := await reader.read(65536):
            if conn["hung"]:
                continue
            marked = self._hang_marker
            if marked and marked[0] in data:
                self._hang_marker = None
                conn["hung"] = True
                if marked[1]:
                    writer.write(data)
                self.hung.set()
                continue
            writer.write(data)
            await writer.drain()

    async def _downstream(self, reader, writer, conn):
        try:
            await self._downstream_delayed(reader, writer, conn)
        except OSError:
            writer.close()

    async def _downstream_delayed(self, reader, writer, conn):
        release = 0.0
        queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._send_in_order(queue, writer, conn))
        try:
            while data := await reader.read(65536):
                if self.delay:
                    mean, jitter = self.delay
                    # In order: a chunk never overtakes the one before it.
                    release = max(release, time.monotonic() + random.uniform(mean - jitter,
                                                                             mean + jitter))
                    await queue.put((release, data))
                else:
                    await queue.put((0.0, data))
            if not conn["hung"]:
                await queue.put((0.0, None))
                await sender
        finally:
            sender.cancel()

    async def _send_in_order(self, queue, writer, conn):
        while True:
            release, data = await queue.get()
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if conn["hung"]:
                continue
            if data is None:
                writer.close()
                return
            writer.write(data)
            await writer.drain()
