"""gnuplot for the demo's and compare's charts: the shared preamble of their
two-panel bar charts, and one way to run a script and report a failure."""

import shutil
import subprocess


def histogram_preamble(output, xtics="scale 0"):
    """pngcairo, tab-separated data, clustered bars, a y grid."""
    return f"""
set terminal pngcairo size 1200,500 font ',10'
set output '{output}'
set datafile separator '\\t'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set xtics {xtics}
set grid ytics
"""


def run_gnuplot(script, cwd):
    """Runs script with gnuplot; "" when it drew, else what went wrong."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (deploy/install-deps.sh bench installs gnuplot-nox)"
    try:
        p = subprocess.run([gnuplot], input=script, text=True, capture_output=True,
                           timeout=60, cwd=cwd)
    except subprocess.TimeoutExpired:
        return "gnuplot did not finish within 60 s"
    return f"gnuplot failed: {p.stderr.strip()}" if p.returncode else ""
