"""Export and deploy: inference latency at batch 1 (ONNX Runtime, TorchScript vs the framework's torch path) per
shipped MLP size on one core, and the control loop over 60 s with the real-time HIL pendulum at 100 and 500 Hz,
plus the docs demo (the exported pendulum balances the stand-in for 60 s at its control period).

    python bench/bench_deploy.py --source runs/pendulum     # a trained InvertedPendulum run (inverted_pendulum.yaml)

Writes bench/results/deploy.json, then renders it (bench/render.py). The machine may be shared: its load is
recorded before and after (bench/machine.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import render  # noqa: E402
from machine import measured  # noqa: E402

RESULTS = REPO / "bench" / "results"
SIZES = {"64x64 (ppo, a2c default)": [64, 64], "256x256 (sac, td3 default)": [256, 256], "400x300": [400, 300]}
ENV = "InvertedPendulumBulletEnv-v0"


def _percentiles(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e6
    return {"p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99)), "n": len(a)}


def _time(fn, n: int) -> list[float]:
    for _ in range(200):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def latency(tmp: Path, n: int) -> dict[str, dict[str, dict[str, float]]]:
    import torch

    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.agents.train import train
    from simtransfer.experiments.config import resolve_train_config

    torch.set_num_threads(1)
    out = {}
    for label, arch in SIZES.items():
        run = tmp / f"mlp_{arch[0]}x{arch[1]}"
        raw = {"env": ENV, "algo": "ppo", "seed": 0, "total_timesteps": 64, "checkpoint_every": 0,
               "progress": False, "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
               "normalize": {"enabled": True}, "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1},
               "policy": {"net_arch": arch}}
        train(resolve_train_config(raw, use_defaults=False), run)
        pol = load_policy(run)
        obs = np.random.default_rng(0).normal(size=5).astype(np.float32)
        res = {"torch (LoadedPolicy.predict)": _percentiles(_time(lambda: pol.predict(obs), n))}  # noqa: B023
        for fmt in ("onnx", "torchscript"):
            export_run(pol, fmt, tmp / f"{run.name}.{fmt}")
            exp = ExportedPolicy(tmp / f"{run.name}.{fmt}")
            res[f"{fmt} (ExportedPolicy.act)"] = _percentiles(_time(lambda: exp.act(obs), n))  # noqa: B023
        out[label] = res
    return out


def loop(exported: Path, rate: float, seconds: float) -> dict:
    from simtransfer.agents.deploy import deploy
    from simtransfer.agents.hil import pendulum

    robot = pendulum(lifetime=seconds + 60)
    try:
        res = deploy(exported, robot, rate=rate, duration=seconds, call_timeout=1.0, max_faults=1000)
        out = res.to_dict()
        out["plant_terminations"] = robot.terminations
        out["plant_physics_steps"] = robot.physics_steps
    finally:
        robot.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="trained InvertedPendulum run directory")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for the latency numbers
    record: dict = {"source": str(args.source), "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as d, measured(record):
        tmp = Path(d)
        record["latency"] = latency(tmp, args.iterations)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))  # the loop and the plant: the whole machine
        from simtransfer.agents.export import export_run
        from simtransfer.agents.export.parity import check_parity

        exported = tmp / "pendulum.onnx"
        meta = export_run(args.source, "onnx", exported)
        record["parity"] = check_parity(args.source, exported, steps=1000)
        record["control_period"] = meta["control_period"]
        record["loop"] = {f"{hz:g}": loop(exported, hz, args.seconds) for hz in (100.0, 500.0)}
        record["demo"] = loop(exported, round(1.0 / meta["control_period"], 2), args.seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(record, indent=2) + "\n")
    for p, text in render.render_all().items():
        p.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
