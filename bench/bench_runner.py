"""Scale-out: wall time of one CPU-bound experiment with 1 worker vs N workers (same machine, same run).

    python bench/bench_runner.py [--workers 2] [--repeats 1] [--ray]

Each repetition runs the identical experiment (4 seeds x (source + random + scratch + finetune)) into a
fresh directory with 1 worker and with N workers, alternating, and reports the speed-up (median over
repetitions). ``--ray`` also times the same experiment on a local Ray instance with N CPUs.
Writes bench/results/runner.json (``bench/render.py`` renders runner.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import render  # noqa: E402
from machine import measured  # noqa: E402


def experiment(timesteps: int) -> dict:
    return {
        "name": "bench-runner",
        "source": {"config": str(REPO / "experiments/configs/inverted_pendulum.yaml"), "timesteps": timesteps,
                   "set": ["eval.every=0", "eval.episodes=2", "eval.targets=[]", "checkpoint_every=0"]},
        "targets": [{"name": "extrap", "env": "simtransfer/InvertedPendulumExtrap-v0"}],
        "methods": ["finetune"],
        "seeds": 4,
        "budget": {"timesteps": timesteps, "eval_every": timesteps // 2, "eval_episodes": 2,
                   "final_episodes": 2, "random_episodes": 2},
        "threshold": 900,
        "tracking": "disabled",
    }


def timed_run(cfg: dict, workers: int, ray: bool = False) -> float:
    from simtransfer.experiments.experiment import parse_experiment
    from simtransfer.experiments.runner import run_experiment

    out = Path(tempfile.mkdtemp(prefix="bench_runner_"))
    try:
        t0 = time.perf_counter()
        summary = run_experiment(parse_experiment(cfg), out, workers=workers, report=False,
                                 ray_address="local" if ray else None, log=lambda _m: None)
        wall = time.perf_counter() - t0
        if summary.failed:
            raise RuntimeError(f"jobs failed: {summary.failed}")
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timesteps", type=int, default=6000, help="steps per source and per cell")
    parser.add_argument("--ray", action="store_true", help="also time a local Ray instance")
    args = parser.parse_args()
    os.environ["WANDB_MODE"] = "disabled"
    cfg = experiment(args.timesteps)
    serial, parallel, ray_times = [], [], []
    result: dict = {}
    with measured(result):  # machine and load of this invocation
        for _ in range(args.repeats):
            serial.append(timed_run(cfg, 1))
            parallel.append(timed_run(cfg, args.workers))
            if args.ray:
                ray_times.append(timed_run(cfg, args.workers, ray=True))
    s, p = statistics.median(serial), statistics.median(parallel)
    result.update({"jobs": 16, "timesteps_per_job": args.timesteps, "workers": args.workers,
                   "serial_s": serial, "parallel_s": parallel, "speedup": s / p})
    if ray_times:
        result["ray_s"] = ray_times
        result["ray_speedup"] = s / statistics.median(ray_times)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "runner.json").write_text(json.dumps(result, indent=2))
    render.main([])


if __name__ == "__main__":
    main()
