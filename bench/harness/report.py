"""The tables the load tools write: markdown for the terminal and results.md,
CSV beside it, and the line that says which machine they come from."""

import csv
import os
import platform
import re
import sqlite3
from pathlib import Path


def say(msg):
    print(msg, flush=True)


def markdown_table(header, rows):
    """header and rows as a markdown table, each column padded to its widest cell."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def ms(value):
    """A latency in whole milliseconds, "-" when there is none."""
    return "-" if value is None else f"{value:.0f}"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine(load_before, *extra):
    """CPUs, kernel, SQLite, what else the tool names (extra), and the load
    average before the run and now: whether other work shared the CPUs."""
    parts = [f"{os.cpu_count()} CPUs ({cpu_model()})", f"Linux {platform.release()}",
             f"SQLite {sqlite3.sqlite_version}", *extra]
    return (", ".join(parts) + f"; load average {load_before:.2f} before the run and "
            f"{os.getloadavg()[0]:.2f} after")


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return Path(path)


def publish(out, text):
    """Prints the report and writes it to OUT/results.md; its path."""
    print()
    print(text, end="", flush=True)
    path = Path(out) / "results.md"
    path.write_text(text)
    return path


def written(paths):
    say("\nwritten: " + ", ".join(map(str, paths)))


def add_chart(paths, chart, png):
    """Draws a tool's chart (chart(): "" when it drew, else what went
    wrong); png added to paths when it drew, else the error said. Whether
    it drew."""
    err = chart()
    if err:
        say(f"\nchart: {err}")
        return False
    paths.append(png)
    return True


def short_kind(failure):
    """ "500 Server Error (500)" for "500 <!doctype html> ... <title>Server Error (500)</title> ...":
    an HTML error page named by its title."""
    m = re.match(r"(\d{3}) .*?<title>\s*(.*?)\s*</title>", failure, re.S | re.I)
    return f"{m.group(1)} {m.group(2)}" if m else failure
