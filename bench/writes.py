"""make bench's write routes: /create_user/ at the cheap hash and the
matrix's six write endpoints (docs/matrix.md), at synchronous=FULL and
NORMAL, with group commit off and on (issue 22), on this machine's disk and
on a simulated slow one (bench/slow_sync.c: each fdatasync 1 ms longer);
wrk at 100 connections.  The rows and the ratios are data: a variant is one
line of VARIANTS, a ratio one line of RATIOS.

A variant that asks for a setting this binary does not have (no
GROUP_COMMIT before group commit exists) is a "not available" row, not a
failure; one that asks for it off runs without it (it is off by its
absence)."""

from harness import matrix, slow_disk, wrk
from harness.paths import MATRIX_LUA

CONNECTIONS = 100

# key, label, path, wrk script (None: wrk_report.lua alone) and its arguments.
ROUTES = [
    ("create_user", "/create_user/, cheap hash", "/create_user/", None, ()),
    ("matrix", "the matrix's six writes, in turn", "/", MATRIX_LUA, matrix.WRITES),
]
# key, label, simulated slow disk.
DISKS = [
    ("disk", "this machine's disk", False),
    ("slow", slow_disk.label(), True),
]
# Settings asked off: when the binary lacks one, the row runs without it.
OFF = {"GROUP_COMMIT": "off"}
# key, label, settings: one line a variant.
VARIANTS = [
    ("full", "FULL", {"SQLITE_SYNCHRONOUS": "full", "GROUP_COMMIT": "off"}),
    ("full-gc", "FULL + group commit", {"SQLITE_SYNCHRONOUS": "full", "GROUP_COMMIT": "on"}),
    ("normal", "NORMAL", {"SQLITE_SYNCHRONOUS": "normal", "GROUP_COMMIT": "off"}),
    ("normal-gc", "NORMAL + group commit", {"SQLITE_SYNCHRONOUS": "normal", "GROUP_COMMIT": "on"}),
]
# label, (variant, disk) over (variant, disk), what issue 22 asks of it.
RATIOS = [
    ("FULL / NORMAL", ("full", "disk"), ("normal", "disk"), ""),
    ("FULL + group commit / NORMAL", ("full-gc", "disk"), ("normal", "disk"), ">= 90%"),
    (f"FULL, {slow_disk.label()} / FULL, this disk", ("full", "slow"), ("full", "disk"), ""),
    (f"FULL + group commit / FULL, both on the {slow_disk.label()}",
     ("full-gc", "slow"), ("full", "slow"), ">= 300%"),
]


def resolved(settings, names):
    """The settings a row runs with, and the settings it needs that the
    binary (whose setting names are names) lacks."""
    run, missing = {}, []
    for name, value in settings.items():
        if name in names:
            run[name] = value
        elif OFF.get(name) != value:
            missing.append(name)
    return run, missing


def plan(base_settings, names):
    """The runs (dicts for bench.py's loop), and the rows not available."""
    runs, unavailable = [], []
    for disk, disk_label, slow in DISKS:
        for route, route_label, path, script, args in ROUTES:
            for variant, variant_label, settings in VARIANTS:
                row = {"section": "writes", "kind": f"writes-{route}-{variant}-{disk}",
                       "route": route, "variant": variant, "disk": disk,
                       "label": f"{route_label}, {variant_label}, {disk_label}"}
                run, missing = resolved(settings, names)
                if missing:
                    unavailable.append(dict(row, missing=missing))
                    continue
                runs.append(dict(row, settings=dict(base_settings, **run), path=path,
                                 connections=CONNECTIONS, script=script, args=args, slow=slow))
    return runs, unavailable


def lock_wait(run):
    share = run.get("lock_wait_share")
    return "–" if share is None else f"{share * 100:.0f}%"


def row_line(run):
    if "missing" in run:
        return (f"| {run['label']} | not available: this binary has no "
                f"{', '.join(run['missing'])} | | | | | |")
    return f"| {run['label']} | {wrk.cells(run)} | {lock_wait(run)} |"


def ratio_cell(found, route, top, bottom):
    a, b = found.get((route, *top)), found.get((route, *bottom))
    if a is None or b is None:
        return "not available"
    return f"{a['rps'] / b['rps'] * 100:.0f}% ({a['rps']:.0f} / {b['rps']:.0f})"


def report(runs, unavailable):
    """The write routes' table, in the plan's order, then the ratios."""
    measured = [r for r in runs if r.get("section") == "writes"]
    rows = sorted(measured + unavailable, key=order)
    found = {(r["route"], r["variant"], r["disk"]): r for r in measured}
    lines = [f"Write routes, wrk {CONNECTIONS} connections; rows on the {slow_disk.label()} "
             "ran with bench/slow_sync.c (LD_PRELOAD): the disk is simulated.", "",
             "| write route, durability, disk | req/s | p50 ms | p99 ms | p99.9 ms | failures "
             "| worker time waiting for the lock |",
             "| --- | --- | --- | --- | --- | --- | --- |",
             *[row_line(r) for r in rows], "",
             "| ratio (req/s over req/s, this run) | " +
             " | ".join(label for _, label, *_ in ROUTES) + " | issue 22 asks |",
             "| --- | " + " | ".join("---" for _ in ROUTES) + " | --- |"]
    for label, top, bottom, asks in RATIOS:
        cells = [ratio_cell(found, route, top, bottom) for route, *_ in ROUTES]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {asks or '–'} |")
    return lines


def order(run):
    """A row's place: by disk, route, then variant, as the plan lists them."""
    return ([d for d, *_ in DISKS].index(run["disk"]), [r for r, *_ in ROUTES].index(run["route"]),
            [v for v, *_ in VARIANTS].index(run["variant"]))
