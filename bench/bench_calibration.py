"""Real-to-sim calibration on the reality stand-ins: parameter recovery, the policies it buys, and its cost.

Per task and seed ``s`` (resumable: finished cells are kept in ``bench/results/calibration.json``):

* **recovery**: ``collect scripted`` (smooth random excitation) logs ``--episodes`` episodes on
  ``simtransfer/<Task>Real-v0`` (reset seeds ``1000 s + i``), ``calibrate`` fits the default parameters on the
  task's simulator; relative error of each continuous estimate vs the stand-in's true value (envs/presets/
  reality.yaml, read here only), latency exact or not, calibration wall time;
* **policies**: PPO (the task's config, ``--timesteps``) trained with seed ``s`` on nominal physics, on the
  shipped preset (uncalibrated DR), on the calibrated preset of seed ``s``, and on the stand-in itself (oracle),
  each scored on the stand-in (``--eval-episodes`` episodes, seeds ``10000 + i``);
* **diagnose**: the fit's own prediction cost at its estimate and at the true values (``--phase diagnose``).

The published runs (bench/results/calibration.md; all niced, one process):

    python bench/bench_calibration.py --task InvertedPendulum --seeds 5 --timesteps 40000 \\
        --arms nominal,dr_physics,dr,calibrated,oracle
    python bench/bench_calibration.py --task Hopper --phase recovery --seeds 5     # no Hopper policies
    python bench/bench_calibration.py --task InvertedDoublePendulum --seeds 5 --policy-seeds 3 --timesteps 150000
    python bench/bench_calibration.py --task InvertedDoublePendulum --seeds 3 --policy-seeds 1 --arms nominal \\
        --timesteps 150000 --probe-oracle 450000                                  # the oracle's budget probe
    python bench/bench_calibration.py --task <Task> --phase diagnose --seeds 5 --timesteps <its steps>

Full settings not run: ``--policy-seeds 5`` for InvertedDoublePendulum, and the harder InvertedPendulum stand-in
``--task InvertedPendulum --standin InvertedPendulumHard --max-delay 8 --timesteps 120000 --seeds 5``.
Keep ``--timesteps`` at the value of the task's entry when re-running a phase: it is part of the entry's header.

``bench/render.py`` renders ``calibration.md`` (IQM over seeds with bootstrap intervals).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "bench_calibration"
ARMS = ("nominal", "dr", "calibrated", "oracle")  # also: dr_physics (the shipped preset without actuator/sensor kinds)
CONFIGS = {"InvertedPendulum": "inverted_pendulum", "InvertedDoublePendulum": "inverted_double_pendulum",
           "Hopper": "hopper"}  # Hopper: recovery only (competent Hopper policies are out of this machine's reach)
DELETE = object()  # update(..., DELETE): remove the cell
STANDIN: str | None = None  # --standin: a further stand-in of the task (envs/presets/reality.yaml), else its own


def real_id(task: str) -> str:
    """The stand-in's env id: ``simtransfer/<Task>Real-v0`` or the ``--standin``'s."""
    from simtransfer.envs.tasks import REALITY_VARIANTS, env_id

    return env_id(*REALITY_VARIANTS[STANDIN]) if STANDIN else env_id(task, "Real")


TAG: str | None = None  # --tag: a variant of the settings, under its own entry


def key(task: str) -> str:
    """The results entry and work folder: the task, or the ``--standin``'s name (``-<tag>`` with ``--tag``)."""
    return (STANDIN or task) + (f"-{TAG}" if TAG else "")


def update(path: Path, task: str, keys: tuple[str, ...], value: Any, header: dict[str, Any]) -> dict[str, Any]:
    """Set ``data[task][keys...] = value`` under a file lock (several bench processes may share the file)."""
    from filelock import FileLock

    WORK.mkdir(parents=True, exist_ok=True)
    with FileLock(str(WORK / "calibration.json.lock")):
        data = json.loads(path.read_text()) if path.is_file() else {}
        entry = data.setdefault(task, {"recovery": {}, "policies": {}})
        entry.update(header)
        node = entry
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if keys and value is DELETE:
            node.pop(keys[-1], None)
        elif keys:
            node[keys[-1]] = value
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    return entry


def recovery(task: str, seed: int, episodes: int, budget: int, max_delay: int = 4) -> dict[str, Any]:
    from simtransfer.agents.collect import collect
    from simtransfer.envs.reality import true_params
    from simtransfer.envs.tasks import env_id
    from simtransfer.transfer.calibration import calibrate

    work = WORK / key(task) / f"s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    data = collect("scripted", real_id(task), work / "data", episodes=episodes, seed=1000 * seed)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    report = calibrate(work / "data", env_id(task), work / "calib", budget=budget, seed=seed, max_delay=max_delay)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    truth = true_params(task, STANDIN)
    rows = {}
    for e in report["estimates"]:
        true = truth.get(e["name"])
        rows[e["name"]] = {**e, "true": true,
                           "rel_error": None if true in (None, 0) else (e["value"] - true) / abs(true)}
    return {"steps": data.total_steps, "episodes": len(data.episodes), "wall_s": wall, "cpu_s": cpu,
            "evaluations": report["evaluations"], "estimates": rows, "load": os.getloadavg()[0],
            "load_before": load0}


def diagnose(task: str, seed: int) -> dict[str, float]:
    """The fit's own prediction cost at its estimate and at the stand-in's true values (same data and windows):
    if the truth costs more, the objective itself prefers the wrong values (a biased cost), not the search."""
    from simtransfer.agents.trajectories import read_trajectories
    from simtransfer.envs.params import KINDS, parse_name
    from simtransfer.envs.reality import true_params
    from simtransfer.envs.tasks import env_id
    from simtransfer.transfer.calibration.fit import prediction_cost, split_params
    from simtransfer.transfer.calibration.simulator import Simulator

    work = WORK / key(task) / f"s{seed}"
    report = json.loads((work / "calib" / "calibration.json").read_text())
    data = read_trajectories(work / "data")
    physics, _ = split_params(report["params"], str(work))
    fitted = {e["name"]: e["value"] for e in report["estimates"]}
    truth = true_params(task, STANDIN)
    true = {n: truth.get(n, 1.0 if KINDS[parse_name(n)[0]].relative_default else KINDS[parse_name(n)[0]].nominal_absolute)
            for n in physics}
    sim = Simulator(env_id(task), physics, data)
    try:
        kw = {"horizon": report["horizon"], "seed": seed}
        at_fit = prediction_cost(sim, data, fitted, int(fitted["action_latency"]), **kw)
        at_truth = prediction_cost(sim, data, true, int(truth["action_latency"]), **kw)
    finally:
        sim.close()
    return {"cost_fit": at_fit, "cost_truth": at_truth, "cost_fit_reported": report["cost_fit"]}


def train_arm(task: str, arm: str, seed: int, timesteps: int, *, out: Path | None = None,
              spec: dict[str, Any] | None = None) -> Path:
    """Train one arm; ``spec``: the oracle's stand-in mapping (default: the task's reality stand-in)."""
    from simtransfer.agents.config import load_train_config, update_config
    from simtransfer.envs.reality import reality_spec
    from simtransfer.envs.tasks import env_id
    from simtransfer.experiments.train import train

    name = CONFIGS[task] + ("_nominal" if arm == "nominal" else "")
    cfg = load_train_config(ROOT / "experiments" / "configs" / f"{name}.yaml",
                            [f"total_timesteps={timesteps}", "eval.every=0", "eval.targets=[]", "checkpoint_every=0",
                             "tracking.mode=disabled", "progress=false"], seed=seed)
    if arm == "calibrated":
        preset = WORK / key(task) / f"s{seed}" / "calib" / "preset.yaml"
        cfg = update_config(cfg, {"env.id": env_id(task), "env.kwargs": {"randomization": str(preset)}})
    elif arm == "dr_physics":
        from simtransfer.envs.params import KINDS, parse_name
        from simtransfer.envs.tasks import preset

        spec = preset(task)
        spec["params"] = {k: v for k, v in spec["params"].items() if KINDS[parse_name(k)[0]].target != "signal"}
        cfg = update_config(cfg, {"env.id": env_id(task), "env.kwargs": {"randomization": spec}})
    elif arm == "oracle":
        cfg = update_config(cfg, {"env.id": env_id(task), "env.kwargs": {"randomization": spec or reality_spec(task, STANDIN)}})
    out = out or WORK / key(task) / f"s{seed}" / arm
    return train(cfg, out, force=True).run_dir


def score(run_dir: Path, task: str, episodes: int) -> list[float]:
    from simtransfer.experiments.evaluate import evaluate_run

    return evaluate_run(run_dir, real_id(task), episodes=episodes, seed=10_000).returns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="InvertedPendulum", choices=list(CONFIGS))
    ap.add_argument("--standin", default=None, help="a further stand-in of the task by its reality.yaml name "
                    "(InvertedPendulumHard: simtransfer/InvertedPendulumRealHard-v0); results under that name")
    ap.add_argument("--tag", default=None, help="results under '<task>-<tag>' (e.g. a smaller --budget beside the "
                    "default one)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--policy-seeds", type=int, default=None, help="seeds of the policy comparison (default: --seeds)")
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. seeds-1 (split across processes)")
    ap.add_argument("--redo-recovery", action="store_true", help="calibrate again seeds that have a recovery cell "
                    "(their calibrated policies are trained again too)")
    ap.add_argument("--episodes", type=int, default=10, help="logged episodes per calibration (<= 10)")
    ap.add_argument("--budget", type=int, default=400, help="CMA-ES evaluations of the final fit")
    ap.add_argument("--max-delay", type=int, default=4, help="largest delay calibrate tries (its default: 4)")
    ap.add_argument("--timesteps", type=int, default=60_000, help="PPO steps per policy")
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--probe-oracle", type=int, default=None, metavar="STEPS",
                    help="also train the oracle with STEPS steps (is the budget what limits it?) for --policy-seeds")
    ap.add_argument("--phase", choices=["all", "recovery", "policies", "diagnose"], default="all",
                    help="diagnose: the fit's cost at its estimate and at the true values, per recovered seed")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    import torch

    global STANDIN, TAG
    STANDIN, TAG = args.standin, args.tag
    torch.set_num_threads(1)
    path = args.results / "calibration.json"
    from simtransfer.envs.reality import true_params

    header = {"truth": true_params(args.task, STANDIN), "episodes": args.episodes, "budget": args.budget,
              "timesteps": args.timesteps, "eval_episodes": args.eval_episodes, "machine": machine()}
    entry = update(path, key(args.task), (), None, header)
    for seed in range(args.seeds):
        if args.phase in ("all", "recovery") and (args.redo_recovery or str(seed) not in entry["recovery"]):
            rec = recovery(args.task, seed, args.episodes, args.budget, args.max_delay)
            entry = update(path, key(args.task), ("recovery", str(seed)), rec, {**header, "load_after": load()})
            if args.redo_recovery and str(seed) in entry["policies"].get("calibrated", {}):  # trained on the old fit
                entry = update(path, key(args.task), ("policies", "calibrated", str(seed)), DELETE, header)
            print(f"{key(args.task)} seed {seed}: recovery in {rec['wall_s']:.0f} s: "
                  + ", ".join(f"{k}={v['value']:.3g}" for k, v in rec["estimates"].items()), flush=True)
    if args.phase in ("all", "diagnose"):
        for seed in range(args.seeds):
            if str(seed) in entry["recovery"] and (WORK / key(args.task) / f"s{seed}" / "calib").is_dir():
                diag = diagnose(args.task, seed)
                entry = update(path, key(args.task), ("diagnosis", str(seed)), diag, header)
                print(f"{key(args.task)} seed {seed}: cost at the fit {diag['cost_fit']:.4g}, at the truth "
                      f"{diag['cost_truth']:.4g}", flush=True)
    if args.phase in ("all", "policies"):
        for seed in range(args.first_seed, args.policy_seeds or args.seeds):
            for arm in args.arms.split(","):
                if str(seed) in entry["policies"].get(arm, {}) or (
                        arm == "calibrated" and str(seed) not in entry["recovery"]):
                    continue
                t0 = time.perf_counter()
                run = train_arm(args.task, arm, seed, args.timesteps)
                returns = score(run, args.task, args.eval_episodes)
                cell = {"returns": returns, "mean": sum(returns) / len(returns), "train_s": time.perf_counter() - t0}
                entry = update(path, key(args.task), ("policies", arm, str(seed)), cell, {**header, "load_after": load()})
                print(f"{key(args.task)} seed {seed} {arm}: {cell['mean']:.1f}", flush=True)
    if args.probe_oracle:
        arm = f"oracle_{args.probe_oracle}"
        for seed in range(args.first_seed, args.policy_seeds or args.seeds):
            if str(seed) in entry["policies"].get(arm, {}):
                continue
            t0 = time.perf_counter()
            run = train_arm(args.task, "oracle", seed, args.probe_oracle, out=WORK / key(args.task) / f"s{seed}" / arm)
            returns = score(run, args.task, args.eval_episodes)
            cell = {"returns": returns, "mean": sum(returns) / len(returns), "train_s": time.perf_counter() - t0}
            entry = update(path, key(args.task), ("policies", arm, str(seed)), cell, {**header, "load_after": load()})
            print(f"{key(args.task)} seed {seed} {arm}: {cell['mean']:.1f}", flush=True)
    import render

    render.main([])
    print(f"wrote {path} and {args.results / 'calibration.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
