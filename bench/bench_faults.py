"""Fault injection: how many faults the suite injects and how many runs or cells it loses (goal: 0 and 0).

    python bench/bench_faults.py            # run tests/faults, write bench/results/faults.{json,md}
    python bench/bench_faults.py --render   # only re-render faults.md from faults.json

The counts are what ``tests/faults/test_fault_injection.py`` measured (SIGKILL at seeded points of ``train``,
``transfer`` and ``run``, then resume; concurrent invocations on one directory; a full disk), written by the
test module itself to ``$SIMTRANSFER_FAULTS_JSON``; this script only runs it and renders the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
ROWS = [("faults_injected", "faults injected (kills that fired + lock conflicts + full disks)"),
        ("kills", "SIGKILLs that fired mid-command"), ("lock_conflicts", "concurrent invocations refused"),
        ("disk_full", "full-disk writes"), ("runs_checked", "runs checked after the fault"),
        ("runs_lost", "runs lost (goal 0)"), ("cells_checked", "experiment cells checked"),
        ("cells_corrupted", "cells corrupted (goal 0)")]


def render(payload: dict) -> str:
    counts = payload["counts"]
    lines = ["# Fault injection", "",
             f"`tests/faults` on {payload['machine']}, {payload['wall_time_s']:.0f} s, pytest exit "
             f"{payload['pytest_exit']}.", "", "| count | value |", "|---|---:|"]
    lines += [f"| {label} | {counts[key]} |" for key, label in ROWS if key in counts]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only re-render faults.md from faults.json")
    args = parser.parse_args()
    out_json = RESULTS / "faults.json"
    if not args.render:
        counts_file = RESULTS / ".faults_counts.json"
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
                             cwd=REPO, env={**os.environ, "SIMTRANSFER_FAULTS_JSON": str(counts_file),
                                            "WANDB_MODE": "disabled"})
        payload = {"counts": json.loads(counts_file.read_text()), "pytest_exit": rc,
                   "wall_time_s": time.perf_counter() - t0,
                   "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"}
        counts_file.unlink()
        out_json.write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "faults.md").write_text(render(json.loads(out_json.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
