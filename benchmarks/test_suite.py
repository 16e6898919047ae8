# -*- coding: utf-8 -*-
"""Figures for the test suite's wall time: what `make test-fast` runs, and the integration tests in one
process against pytest-xdist workers (the Makefile's PYTEST_WORKERS). Prints, no pass/fail; the
machine's load average is printed with each figure (a shared machine makes single runs noisy).

    .venv/bin/python benchmarks/test_suite.py [--workers 0 2] [--repeat 1] [--skip-integration]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command):
    start = time.monotonic()
    load = os.getloadavg()[0]
    proc = subprocess.run(command, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return time.monotonic() - start, load, proc.returncode, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="xdist worker counts (0: no xdist)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-integration", action="store_true", help="only the fast tests")
    args = parser.parse_args()
    python = sys.executable
    runs = [("unit + integration not slow (test-fast's pytest part)",
             [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "tests/unit",
              "tests/integration"])]
    if not args.skip_integration:
        for workers in args.workers:
            runs.append(("integration, %s" % ("one process" if workers == 0 else "-n %d" % workers),
                         [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
                         + (["-n", str(workers)] if workers else []) + ["tests/integration"]))
    for _round in range(args.repeat):
        for label, command in runs:
            seconds, load, rc, last = timed(command)
            print("%-58s %7.1f s  (rc %d, load %.1f at start)  %s" % (label, seconds, rc, load, last), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
