"""gnuplot for the load tools' charts (make demo, make compare): panels of
clustered bars side by side, one cluster per category (a configuration, a
stack), one bar per series; and one way to run gnuplot and say what failed."""

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Panel:
    """One panel: series are (title, one value per category or None, colour or None)."""
    title: str
    series: list = field(default_factory=list)
    log: bool = False          # a log y axis: rates that span orders of magnitude
    ymin: float = 0
    ymax: float = None         # None: gnuplot's choice
    labels: bool = False       # each bar's value above it


def bar_chart(png, title, categories, panels, xtics="scale 0"):
    """Draws panels side by side into png (its data beside it, .dat); "" when
    it drew, else what went wrong."""
    png = Path(png)
    dat = png.with_suffix(".dat")
    columns = [values for p in panels for _, values, _ in p.series]
    with open(dat, "w") as f:
        for i, category in enumerate(categories):
            cells = ["NaN" if c[i] is None else f"{c[i]:.1f}" for c in columns]
            f.write("\t".join([f'"{category}"', *cells]) + "\n")
    script = [f"""
set terminal pngcairo size 1200,500 font ',10'
set output '{png}'
set datafile separator '\\t'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set xtics {xtics}
set grid ytics
set multiplot layout 1,{len(panels)} title '{title}'"""]
    column = 2
    for p in panels:
        script.append(_panel(p, dat, column))
        column += len(p.series)
    script.append("unset multiplot\n")
    return run_gnuplot("\n".join(script), png.parent)


def _panel(p, dat, first_column):
    n = len(p.series)
    plots = []
    for k, (name, _, colour) in enumerate(p.series):
        col = first_column + k
        plots.append(f"'{dat}' using {col}{':xtic(1)' if k == 0 else ''} title '{name}'"
                     + (f" linecolor rgb '{colour}'" if colour else ""))
        if p.labels:
            # The k-th of n bars of a cluster (gap 1) is 1/(n+1) wide.
            shift = (k - (n - 1) / 2) / (n + 1)
            plots.append(f"'' using ($0{shift:+.4f}):{col}:(sprintf('%.1f',${col})) "
                         "with labels offset 0,0.7 font ',7' notitle")
    return "\n".join([
        f"set title '{p.title}'",
        "set logscale y" if p.log else "unset logscale y",
        f"set yrange [{p.ymin}:{'*' if p.ymax is None else p.ymax}]",
        "set key top left" if n > 1 else "set key off",
        "plot " + ", \\\n     ".join(plots),
    ])


def run_gnuplot(script, cwd):
    """Runs script with gnuplot; "" when it drew, else what went wrong."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (deploy/deps/install-deps.sh bench installs gnuplot-nox)"
    try:
        p = subprocess.run([gnuplot], input=script, text=True, capture_output=True,
                           timeout=60, cwd=cwd)
    except subprocess.TimeoutExpired:
        return "gnuplot did not finish within 60 s"
    return f"gnuplot failed: {p.stderr.strip()}" if p.returncode else ""
