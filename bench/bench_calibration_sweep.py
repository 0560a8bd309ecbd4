"""A harder InvertedPendulum stand-in: which stand-in parameters defeat nominal and uncalibrated-DR policies but
not an oracle trained on the stand-in itself (issue 15; the old stand-in lets uncalibrated DR score 1000).

Two stages, every policy trained and scored by the project's own ``train`` / ``evaluate_run`` (the same arms as
``bench_calibration.py``: the task's config, ``--timesteps`` PPO steps):

1. **screen**: PPO on nominal physics and on the shipped preset (uncalibrated DR), seeds ``0 .. --seeds-1``,
   each scored on every candidate stand-in of :data:`CANDIDATES` (``--eval-episodes`` episodes, seeds 10000+i);
2. **oracle**: on each candidate where both arms fail (IQM of the per-seed means < ``--fail`` of the maximum
   return 1000), mildest first, PPO trained on the candidate itself (seeds ``0 .. --oracle-seeds-1``) and
   scored there, until ``--max-found`` candidates have an oracle that holds (IQM >= 90% of the maximum; 0: try
   every screened candidate).

Resumable (finished cells are kept in ``bench/results/calibration_sweep.json``).

    python bench/bench_calibration_sweep.py        # the published setting: 2 seeds per arm, 1 oracle seed
    python bench/bench_calibration_sweep.py --seeds 5 --oracle-seeds 5   # the full setting (adds seeds)

``--probe CAND`` also trains the oracle of CAND for ``--probe-timesteps`` steps: whether more training, not the
stand-in, is what an oracle lacks.

``bench/render.py`` renders it (``render_calibration.py``: IQM over seeds with bootstrap intervals).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_calibration import train_arm  # noqa: E402
from machine import load, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "bench_calibration_sweep"
TASK = "InvertedPendulum"
MAX_RETURN = 1000.0
#: Candidate stand-ins, mildest first within each family: the old one (``old``), then longer actuation delays
#: (the sensitivity sweep: a nominal policy keeps its full return up to 3 steps, 0.07 at 4), a weaker motor and
#: more sensor noise; then a motor outside the training range in either direction. Only kinds ``simtransfer calibrate`` identifies by default (motor gain, link masses,
#: action latency, sensor noise), so a calibrated policy could in principle match the oracle.
CANDIDATES: dict[str, dict[str, float]] = {
    "old": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0},
    "d3": {"action_latency": 3, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0},
    "d3_n05": {"action_latency": 3, "obs_noise": 0.05, "motor_gain": 0.4, "mass@pole": 2.0},
    "d3_g25": {"action_latency": 3, "obs_noise": 0.02, "motor_gain": 0.25, "mass@pole": 2.0},
    "d4": {"action_latency": 4, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0},
    "d4_g25": {"action_latency": 4, "obs_noise": 0.02, "motor_gain": 0.25, "mass@pole": 2.0},
    "d4_n05": {"action_latency": 4, "obs_noise": 0.05, "motor_gain": 0.4, "mass@pole": 2.0},
    "d5": {"action_latency": 5, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0},
    "d6": {"action_latency": 6, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0},
    # a STRONGER motor than the training range (0.5-2x) with a delay: the other axis nominal policies lose on
    # (they over-correct and oscillate), where an oracle can learn gentler control; and a much weaker one
    "g3_d2": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 3.0, "mass@pole": 1.0},
    "g4_d2": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 4.0, "mass@pole": 1.0},
    "g4_d3": {"action_latency": 3, "obs_noise": 0.02, "motor_gain": 4.0, "mass@pole": 1.0},
    "g6_d2": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 6.0, "mass@pole": 1.0},
    "g8_d1": {"action_latency": 1, "obs_noise": 0.02, "motor_gain": 8.0, "mass@pole": 1.0},
    "g015_d2": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 0.15, "mass@pole": 2.0},
    "g015_d2_n05": {"action_latency": 2, "obs_noise": 0.05, "motor_gain": 0.15, "mass@pole": 2.0},
    "g015_d3": {"action_latency": 3, "obs_noise": 0.02, "motor_gain": 0.15, "mass@pole": 2.0},
    "g01_d2": {"action_latency": 2, "obs_noise": 0.02, "motor_gain": 0.1, "mass@pole": 1.0},
}


def standin(values: dict[str, float]) -> dict[str, Any]:
    """The randomization mapping of a candidate (one-value categoricals, like ``envs/presets/reality.yaml``)."""
    return {"params": {k: {"dist": "categorical", "choices": [v]} for k, v in values.items()}, "split": "train"}


def target(values: dict[str, float]) -> dict[str, Any]:
    """The candidate as an evaluation target (an ``EnvSpec`` mapping)."""
    from simtransfer.envs.tasks import env_id

    return {"id": env_id(TASK), "kwargs": {"randomization": standin(values)}}


def score(run_dir: Path, values: dict[str, float], episodes: int) -> list[float]:
    from simtransfer.experiments.evaluate import evaluate_run

    return evaluate_run(run_dir, target(values), episodes=episodes, seed=10_000).returns


def cpu() -> float:
    """CPU seconds of this process and its finished children (vectorized envs may run in subprocesses)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def save(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def iqm(values: list[float]) -> float:
    from simtransfer.transfer.stats import bootstrap_iqm

    return bootstrap_iqm(values).value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="seeds of the nominal and DR arms")
    ap.add_argument("--oracle-seeds", type=int, default=1, help="oracle seeds per candidate that passes the screen")
    ap.add_argument("--timesteps", type=int, default=40_000, help="PPO steps per policy (bench_calibration's)")
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--fail", type=float, default=0.5, help="screen: both arms' IQM below this share of 1000")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--max-found", type=int, default=0, help="stop the oracle stage after this many candidates "
                    "where the oracle holds (0: train oracles on every screened candidate)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where calibration_sweep.json goes")
    ap.add_argument("--probe", default="g6_d2,d6", help="candidates whose oracle is also trained --probe-timesteps "
                    "steps (default: the two with the largest oracle margins in the published run)")
    ap.add_argument("--probe-timesteps", type=int, default=120_000)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    path = args.results / "calibration_sweep.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    names = args.candidates.split(",")
    settings = {"task": TASK, "timesteps": args.timesteps, "eval_episodes": args.eval_episodes, "fail": args.fail,
                "max_return": MAX_RETURN, "machine": machine()}
    if data and {k: data.get(k) for k in ("task", "timesteps", "eval_episodes")} != {
            k: settings[k] for k in ("task", "timesteps", "eval_episodes")}:
        raise SystemExit(f"{path} holds another setting; pass --out to start a new file")
    data.update(settings)
    data.setdefault("candidates", {})
    data.setdefault("cells", {})
    data.setdefault("started", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    data.setdefault("load_before", load())
    for n in names:
        data["candidates"][n] = CANDIDATES[n]
    data["order"] = [n for n in CANDIDATES if n in data["candidates"]]  # json.dumps sorts the mapping's keys
    cells = data["cells"]
    work = WORK if args.results == RESULTS else args.results / "runs"

    def cell(key: str, run: Path, values: dict[str, float], train_s: float | None) -> None:
        t0, c0 = time.perf_counter(), cpu()
        returns = score(run, values, args.eval_episodes)
        cells[key] = {"returns": returns, "mean": sum(returns) / len(returns), "train_s": train_s,
                      "eval_s": time.perf_counter() - t0, "eval_cpu_s": cpu() - c0}
        data["cpu_s"] = data.get("cpu_s", 0.0) + cpu() - c0
        data["load_after"] = load()
        save(path, data)
        print(f"{key}: {cells[key]['mean']:.0f}", flush=True)

    for arm in ("nominal", "dr"):  # stage 1: candidate-independent policies, scored on every candidate
        for seed in range(args.seeds):
            todo = [n for n in names if f"{n}/{arm}/{seed}" not in cells]
            if not todo:
                continue
            run = work / f"{arm}_s{seed}"
            t0, c0 = time.perf_counter(), cpu()
            if not (run / "eval.json").is_file():
                train_arm(TASK, arm, seed, args.timesteps, out=run)
            data["cpu_s"] = data.get("cpu_s", 0.0) + cpu() - c0
            train_s = time.perf_counter() - t0
            for n in todo:
                cell(f"{n}/{arm}/{seed}", run, CANDIDATES[n], train_s)
                train_s = None  # counted once
    found = 0
    for n in names:  # stage 2: oracles where the screen says both arms fail, mildest first
        worst = max(iqm([cells[f"{n}/{arm}/{s}"]["mean"] for s in range(args.seeds)]) for arm in ("nominal", "dr"))
        if worst >= args.fail * MAX_RETURN or (args.max_found and found >= args.max_found):
            continue
        for seed in range(args.oracle_seeds):
            if f"{n}/oracle/{seed}" in cells:
                continue
            run = work / f"oracle_{n}_s{seed}"
            t0, c0 = time.perf_counter(), cpu()
            train_arm(TASK, "oracle", seed, args.timesteps, out=run, spec=standin(CANDIDATES[n]))
            data["cpu_s"] = data.get("cpu_s", 0.0) + cpu() - c0
            cell(f"{n}/oracle/{seed}", run, CANDIDATES[n], time.perf_counter() - t0)
        found += iqm([cells[f"{n}/oracle/{s}"]["mean"] for s in range(args.oracle_seeds)]) >= 0.9 * MAX_RETURN
    for n in args.probe.split(",") if args.probe else []:  # stage 3: is the oracle's budget what limits it?
        steps = args.probe_timesteps
        for seed in range(args.oracle_seeds):
            if f"{n}/oracle_{steps}/{seed}" in cells:
                continue
            run = work / f"oracle_{n}_{steps}_s{seed}"
            t0, c0 = time.perf_counter(), cpu()
            train_arm(TASK, "oracle", seed, steps, out=run, spec=standin(CANDIDATES[n]))
            data["cpu_s"] = data.get("cpu_s", 0.0) + cpu() - c0
            cell(f"{n}/oracle_{steps}/{seed}", run, CANDIDATES[n], time.perf_counter() - t0)
    data["max_found"] = args.max_found
    save(path, data)
    if args.results == RESULTS:
        import render

        render.main([])
    print(f"wrote {path}; CPU {data.get('cpu_s', 0):.0f} s (this process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
