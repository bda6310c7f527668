"""locust's results, from the CSV files of `locust --csv PREFIX` with
bench/load/locustfile.py (which writes PREFIX_final_stats.csv and
PREFIX_final_failures.csv once the requests in flight have finished)."""

import csv
from collections import Counter
from dataclasses import dataclass, field

from .paths import LOCUSTFILE


@dataclass
class Totals:
    """The Aggregated row of a run; latencies in ms (None without a request)."""
    requests: int
    failures: int
    rps: float
    p50: float = None
    p95: float = None
    p99: float = None
    p999: float = None
    max: float = None
    errors: list = field(default_factory=list)  # (error text, occurrences), most first


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def failures(prefix, name=None):
    """Counter of error text -> occurrences, from PREFIX_final_failures.csv
    (of the requests named name, or of all)."""
    errors = Counter()
    for r in read_csv(f"{prefix}_final_failures.csv"):
        if name is None or r["Name"] == name:
            errors[r["Error"]] += int(r["Occurrences"])
    return errors


def totals(prefix, name=None):
    """The whole run's figures from PREFIX_final_stats.csv and its failures;
    with name ("create_user/", "users/"), those of that request's row only
    (a zero row when there was none)."""
    path = f"{prefix}_final_stats.csv"
    rows = [r for r in read_csv(path) if r["Name"] == (name or "Aggregated")]
    if not rows and name is not None:
        return Totals(requests=0, failures=0, rps=0.0)
    if len(rows) != 1:
        raise ValueError(f"{path} has no {name or 'Aggregated'} row")
    row = rows[0]
    t = Totals(requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
               rps=float(row["Requests/s"]))
    if t.requests:
        t.p50, t.p95, t.p99, t.p999, t.max = (float(row[k]) for k in
                                               ("50%", "95%", "99%", "99.9%", "Max Response Time"))
    t.errors = failures(prefix, name).most_common()
    return t
