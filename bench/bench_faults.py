"""Fault injection: how many faults the suite injects and how many runs or cells it loses (goal: 0 and 0).

    python bench/bench_faults.py            # run tests/faults, write bench/results/faults.json and render it

The counts are what ``tests/faults/test_fault_injection.py`` measured (SIGKILL at seeded points of ``train``,
``transfer`` and ``run``, then resume; concurrent invocations on one directory; a full disk), written by the
test module itself to ``$SIMTRANSFER_FAULTS_JSON``; this script only runs it; ``bench/render.py`` renders faults.md.
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
sys.path.insert(0, str(REPO / "bench"))
import render  # noqa: E402
from machine import machine  # noqa: E402

RESULTS = REPO / "bench" / "results"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    out_json = RESULTS / "faults.json"
    counts_file = RESULTS / ".faults_counts.json"
    t0 = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
                         cwd=REPO, env={**os.environ, "SIMTRANSFER_FAULTS_JSON": str(counts_file),
                                        "WANDB_MODE": "disabled"})
    payload = {"counts": json.loads(counts_file.read_text()), "pytest_exit": rc,
               "wall_time_s": time.perf_counter() - t0,
               "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "host": machine()}
    counts_file.unlink()
    out_json.write_text(json.dumps(payload, indent=2) + "\n")
    return render.main([])


if __name__ == "__main__":
    sys.exit(main())
