"""The command line the load tools share (make demo, make compare): how many
users, for how long, where to write, and which of a tool's runs."""

import argparse
import os
import re

from . import interrupts


def parse_duration(text):
    """Seconds in "10s", "1m30s", "2m", "45" (locust's --run-time forms)."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise argparse.ArgumentTypeError(f"DURATION: '{text}' is not like 10s, 1m30s or 45")
    h, mi, s = (int(g or 0) for g in m.groups())
    seconds = 3600 * h + 60 * mi + s
    if seconds < 1:
        raise argparse.ArgumentTypeError("DURATION: at least 1 second")
    return seconds


def positive_int(name):
    def parse(text):
        if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{name}: '{text}' is not a positive integer")
        return int(text)
    return parse


def names(kind, known):
    """A comma-separated choice among known, in the order given."""
    def parse(text):
        chosen = [c.strip() for c in text.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"{kind}: unknown {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(known)}")
        return chosen
    return parse


def load_parser(doc, out, each):
    """A parser with the options of every load tool: --users, --duration
    (per each, e.g. "configuration"), --out (default out), --no-chart."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--users", type=positive_int("USERS"), default=10)
    p.add_argument("--duration", dest="seconds", type=parse_duration, default=10,
                   help=f"per {each}: 10s, 1m, 1m30s (default 10s)")
    p.add_argument("--out", default=str(out))
    p.add_argument("--no-chart", dest="chart", action="store_false")
    return p


def add_postgres_url(p, what):
    """--postgres-url: what runs on that fresh database instead of a
    PostgreSQL server of the tool's own."""
    p.add_argument("--postgres-url", default=None,
                   help=f"{what} on this fresh database instead of a server of the tool's own")


def run_tool(name, binary, tool, args):
    """tool(args).run() with Ctrl-C caught (harness/interrupts.py), once
    binary is there; its exit status."""
    if not os.access(binary, os.X_OK):
        print(f"{name}: {binary} is missing or not executable (build it with make)", flush=True)
        return 1
    interrupts.catch()
    return tool(args).run()
