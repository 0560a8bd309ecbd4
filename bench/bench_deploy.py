"""Export and deploy: inference latency at batch 1 (ONNX Runtime, TorchScript vs the framework's torch path) per
shipped MLP size on one core, and the control loop over 60 s with the real-time HIL pendulum at 100 and 500 Hz —
robot calls inline or on a worker thread, normal or SCHED_FIFO scheduling, on an idle machine or with every core
taken by busy processes — plus the docs demo (the exported pendulum balances the stand-in for 60 s at its control
period). About 10 minutes.

    python bench/bench_deploy.py --source runs/pendulum     # a trained InvertedPendulum run (inverted_pendulum.yaml)

Writes bench/results/deploy.json, then renders it (bench/render.py). The machine may be shared: its load is
recorded before and after (bench/machine.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
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


# (label, rate, robot calls, loop SCHED_FIFO priority, plant SCHED_FIFO priority, busy background processes)
LOOPS = [
    ("100 Hz", 100.0, "auto", None, None, 0),
    ("100 Hz, SCHED_FIFO", 100.0, "auto", 50, 60, 0),
    ("500 Hz", 500.0, "auto", None, None, 0),
    ("500 Hz, robot calls on a worker thread", 500.0, "thread", None, None, 0),
    ("500 Hz, SCHED_FIFO", 500.0, "auto", 50, 60, 0),
    ("500 Hz, 2 busy processes", 500.0, "auto", None, None, 2),
    ("500 Hz, SCHED_FIFO, 2 busy processes", 500.0, "auto", 50, 60, 2),
]


@contextlib.contextmanager
def busy(n: int):
    """``n`` processes spinning at normal priority: a machine whose cores are all taken by other work."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def loop(exported: Path, rate: float, seconds: float, *, calls: str = "auto", realtime: int | None = None,
         plant_realtime: int | None = None, background: int = 0) -> dict:
    from simtransfer.agents.deploy import deploy
    from simtransfer.agents.hil import pendulum

    robot = pendulum(lifetime=seconds + 60, realtime=plant_realtime)
    try:
        with busy(background):
            res = deploy(exported, robot, rate=rate, duration=seconds, call_timeout=1.0, max_faults=1000,
                         robot_calls_mode=calls, realtime=realtime)
        out = res.to_dict()
        out["plant_terminations"] = robot.terminations
        out["plant_physics_steps"] = robot.physics_steps
        out.update(plant_realtime=plant_realtime, background=background)
    finally:
        robot.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="trained InvertedPendulum run directory")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--no-realtime", action="store_true",
                        help="skip the SCHED_FIFO rows (no root / CAP_SYS_NICE on this machine)")
    args = parser.parse_args()
    record: dict = {"source": str(args.source), "seconds": args.seconds}
    latency_priority = None if args.no_realtime else 50
    record["latency_scheduling"] = "normal" if latency_priority is None else f"SCHED_FIFO {latency_priority}"
    with tempfile.TemporaryDirectory() as d, measured(record):
        tmp = Path(d)
        from simtransfer.agents.realtime import realtime_scheduling

        # one core; under SCHED_FIFO other processes cannot preempt the timed calls (as on a robot's control core)
        with realtime_scheduling(latency_priority, sorted(os.sched_getaffinity(0))[0]):
            record["latency"] = latency(tmp, args.iterations)
        from simtransfer.agents.export import export_run
        from simtransfer.agents.export.parity import check_parity

        exported = tmp / "pendulum.onnx"
        meta = export_run(args.source, "onnx", exported)
        record["parity"] = check_parity(args.source, exported, steps=1000)
        record["control_period"] = meta["control_period"]
        record["loop"] = {}
        for label, hz, calls, rt, plant_rt, background in LOOPS:
            if (rt or plant_rt) and args.no_realtime:
                continue
            record["loop"][label] = loop(exported, hz, args.seconds, calls=calls, realtime=rt,
                                         plant_realtime=plant_rt, background=background)
        record["demo"] = loop(exported, round(1.0 / meta["control_period"], 2), args.seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(record, indent=2) + "\n")
    for p, text in render.render_all().items():
        p.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
