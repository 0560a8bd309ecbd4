"""How large is the domain gap along each physics axis? One-parameter sweeps of a nominal policy.

A PPO policy trained on nominal physics (``experiments/configs/<task>_nominal.yaml``, or an existing run with
``--run``) is scored with one parameter pinned at a time to each value of a wide grid (every other parameter
stays native), through the task's own randomizer: the preset's parameter (same links, same relative/absolute
mode) turned into a one-value categorical on the ``train`` split. Deterministic actions, episode ``i`` seeded
``seed + i``. The metric is mean return at the grid value / mean return on ``<Task>Nominal-v0``; a random
policy's nominal return is given as the floor. Results accumulate per ``<task>/<tag>`` in
``bench/results/sensitivity.json``; ``bench/render.py`` renders ``sensitivity.md`` from it. ``--run`` also takes a randomized
policy (``--tag dr``): then the sweep shows how far its training ranges carry it.

    python bench/bench_sensitivity.py --task InvertedPendulum --timesteps 30000
    python bench/bench_sensitivity.py --task Reacher --run runs/reacher_nominal --params motor_gain,joint_damping
    python bench/bench_sensitivity.py --task InvertedPendulum --run RUN --grid motor_gain=0.1,0.2,0.3
    python bench/bench_sensitivity.py --task InvertedPendulum --params signals --tag signals   # actuators/sensors
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402
from machine import load, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
# Wide default grids (relative kinds: scale of the native value; the others: absolute values).
GRIDS: dict[str, list[float]] = {
    "motor_gain": [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    "mass": [0.25, 0.35, 0.5, 0.7, 1.0, 2.0, 4.0, 8.0],
    "gravity": [2.0, 5.0, 9.8, 15.0, 20.0, 30.0, 40.0],
    "joint_damping": [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
    "lateral_friction": [0.1, 0.5, 1.0, 2.0, 5.0],
    "restitution": [0.0, 0.5, 1.0],
    # actuators and sensors (envs/signals.py; absolute: steps, action units, observation units)
    "action_latency": [0, 1, 2, 3, 4],
    "obs_latency": [0, 1, 2, 3],
    "action_noise": [0.0, 0.05, 0.1, 0.2, 0.4],
    "obs_noise": [0.0, 0.005, 0.01, 0.02, 0.05, 0.1],
    "obs_bias": [0.0, 0.01, 0.02, 0.05, 0.1],
    "control_period": [1, 2, 3],
}
SIGNALS = "action_latency,obs_latency,action_noise,obs_noise,obs_bias,control_period"


def snake(task: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", task).lower()


def train_nominal(task: str, timesteps: int, seed: int, out: Path) -> Path:
    """Train the task's nominal PPO config (no periodic evaluation or checkpoints) into ``out``."""
    from simtransfer.experiments.config import load_train_config
    from simtransfer.experiments.train import train

    cfg = load_train_config(CONFIGS / f"{snake(task)}_nominal.yaml",
                            [f"total_timesteps={timesteps}", "eval.every=0", "eval.targets=[]", "eval.episodes=2",
                             "checkpoint_every=0", "tracking.mode=disabled", "progress=false"], seed=seed)
    result = train(cfg, out, force=True)
    return result.run_dir


def pinned_spec(task: str, name: str, value: float) -> dict[str, Any]:
    """Env spec of ``task`` with parameter ``name`` pinned at ``value`` (settings of the task preset)."""
    from simtransfer.envs.registry import env_id, preset

    base = dict(preset(task)["params"].get(name) or {})  # a parameter outside the preset: kind defaults
    keep = {k: base[k] for k in ("relative", "nominal", "links") if k in base}
    rand = {"params": {name: {**keep, "dist": "categorical", "choices": [float(value)]}}, "split": "train"}
    return {"id": env_id(task), "randomization": rand}


def score(policy: Any, spec: dict[str, Any], episodes: int, seed: int) -> tuple[float, list[float]]:
    from simtransfer.agents.evaluation import run_episodes
    from simtransfer.agents.vecenv import make_single_env

    env = make_single_env(spec, policy.config.adapters, seed=seed)
    try:
        returns, _ = run_episodes(env, policy.model, episodes=episodes, seed=seed, normalizer=policy.normalizer)
    finally:
        env.close()
    return float(np.mean(returns)), [float(r) for r in returns]


def random_return(task: str, episodes: int, seed: int) -> float:
    from simtransfer.agents.evaluation import RandomPolicy, run_episodes
    from simtransfer.envs.registry import env_id
    from simtransfer.envs.spec import make_env

    env = make_env({"id": env_id(task, "Nominal")}, seed=seed)
    try:
        returns, _ = run_episodes(env, RandomPolicy(env.action_space, seed=seed), episodes=episodes, seed=seed)
    finally:
        env.close()
    return float(np.mean(returns))


def sweep(task: str, run_dir: Path, params: list[str], grids: dict[str, list[float]], episodes: int,
          seed: int) -> dict[str, Any]:
    """Nominal return, random floor, and per parameter the return and ratio at every grid value."""
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.envs.params import build_parameter
    from simtransfer.envs.registry import env_id, preset

    policy = load_policy(run_dir)
    nominal, nominal_returns = score(policy, {"id": env_id(task, "Nominal")}, episodes, seed)
    out: dict[str, Any] = {"task": task, "run": str(run_dir), "episodes": episodes, "seed": seed,
                           "nominal_return": nominal, "nominal_returns": nominal_returns,
                           "random_return": random_return(task, episodes, seed), "params": {}}
    print(f"{task}: nominal return {nominal:.1f} (random {out['random_return']:.1f})", flush=True)
    spec = preset(task)["params"]
    for name in params:
        grid = grids[name.partition("@")[0]]
        prm = build_parameter(name, spec.get(name) or {"dist": "categorical", "choices": grid})
        rows = []
        for value in grid:
            if not prm.valid[0] <= value <= prm.valid[1]:
                continue
            mean, returns = score(policy, pinned_spec(task, name, value), episodes, seed)
            ratio = mean / nominal if nominal > 0 else float("nan")
            rows.append({"value": value, "return": mean, "ratio": ratio, "returns": returns})
            print(f"  {name}={value:g}: return {mean:.1f}  ratio {ratio:.3f}", flush=True)
        out["params"][name] = {"nominal": prm.nominal, "train": [prm.low, prm.high],
                               "extrap": list(prm.extrap), "relative": prm.relative, "rows": rows}
    return out


def parse_grids(items: list[str]) -> dict[str, list[float]]:
    from simtransfer.envs.errors import SimtransferError

    grids = dict(GRIDS)
    for item in items:
        key, sep, values = item.partition("=")
        try:
            grids[key.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise SimtransferError(f"bad --grid '{item}': expected kind=v1,v2,...") from None
        if not sep or not grids[key.strip()]:
            raise SimtransferError(f"bad --grid '{item}': expected kind=v1,v2,...")
    return grids


def main(argv: list[str] | None = None) -> int:
    from simtransfer.envs.errors import SimtransferError
    from simtransfer.envs.params import parse_name
    from simtransfer.envs.registry import TASKS, preset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, help=f"task ({', '.join(TASKS)})")
    ap.add_argument("--run", type=Path, help="run directory of a nominal policy (default: train one)")
    ap.add_argument("--label", help="how the --run policy was trained (for the report)")
    ap.add_argument("--tag", default="nominal", help="results key <task>/<tag> (e.g. dr for a randomized policy)")
    ap.add_argument("--timesteps", type=int, default=30_000, help="training budget when no --run is given")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=3, help="evaluation episodes per grid value")
    ap.add_argument("--params", help="comma-separated parameters, e.g. motor_gain,mass@pole (default: every "
                    "preset parameter with a grid)")
    ap.add_argument("--grid", action="append", default=[], help="kind=v1,v2,... replaces a default grid")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    try:
        if args.task not in TASKS:
            raise SimtransferError(f"unknown task '{args.task}' (known: {', '.join(TASKS)})")
        grids = parse_grids(args.grid)
        available = list(preset(args.task)["params"])
        params = (SIGNALS if args.params == "signals" else args.params).split(",") if args.params else [p for p in available if p.partition("@")[0] in grids]
        for name in params:
            if name.partition("@")[0] not in grids:
                raise SimtransferError(f"parameter '{name}' has no grid (give one with --grid kind=v1,v2,...)")
            parse_name(name)
        import torch

        torch.set_num_threads(1)
        meta: dict[str, Any] = {"machine": machine(), "load_before": load()}
        run_dir = args.run
        if run_dir is None:
            t0 = time.perf_counter()
            run_dir = train_nominal(args.task, args.timesteps, args.seed,
                                    ROOT / "runs" / "sensitivity" / f"{args.task}_seed{args.seed}")
            meta["train_s"] = time.perf_counter() - t0
            meta["policy"] = f"PPO {args.timesteps} steps, seed {args.seed}, {snake(args.task)}_nominal.yaml"
        else:
            meta["policy"] = args.label or f"run {run_dir}"
        t0 = time.perf_counter()
        res = sweep(args.task, Path(run_dir), params, grids, args.episodes, args.seed)
    except SimtransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta.update(sweep_s=time.perf_counter() - t0, load=f"{os.getloadavg()[0]:.2f}", load_after=load(),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    res["meta"] = meta
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / "sensitivity.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[f"{args.task}/{args.tag}"] = res
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
    render.main([])
    print(f"wrote {path} and {args.results / 'sensitivity.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
