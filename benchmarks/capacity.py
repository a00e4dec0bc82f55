"""How long a capacity search takes, and how close it lands (issue 18).

Usage::

    python -m benchmarks.capacity [--runs 3] [--fault] [-- --set KEY=VALUE ...]

Runs ``chaoskit capacity experiments/capacity.toml`` (a service of known
capacity: 4 workers x 20 ms = 200 requests/s; 133/s with the 10 ms "slow db"
fault held) ``--runs`` times and prints each search's range, steps and wall
time, then the median time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fault", action="store_true", help='--fault "slow db"')
    parser.add_argument("extra", nargs="*")
    ns = parser.parse_args()
    print(f"{platform.platform()} · {os.cpu_count()} CPUs · load {os.getloadavg()}")
    times = []
    for run in range(ns.runs):
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                *(sys.executable, "-m", "chaoskit", "capacity"),
                *("experiments/capacity.toml", "--report-dir", tmp, *ns.extra),
            ]
            if ns.fault:
                command += ["--fault", "slow db"]
            started = time.monotonic()
            done = subprocess.run(command, cwd=REPO, capture_output=True, check=False)
            took = time.monotonic() - started
            times.append(took)
            report = json.loads((Path(tmp) / "report.json").read_text())
            print(
                f"run {run + 1}: exit {done.returncode}, {took:.1f} s, "
                f"{len(report['curve'])} steps, capacity {report['capacity']}, "
                f"baseline {report.get('baseline')}, margin {report.get('margin')}"
            )
    print(f"median {statistics.median(times):.1f} s over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
