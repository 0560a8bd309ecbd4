"""Worst-case evaluation benchmark: does CMA-ES find physics at least as bad as the worst of 100 random draws
within 100 evaluations, and how do FGSM/PGD observation attacks compare with uniform noise of the same bound?

For each task a cheap PPO source is trained with the project's own ``train`` (the task's shipped config, a
short budget; reused when already there). Then, per search seed: ``search_worst_case(method="random")`` draws
``--random`` vectors uniformly from the task's training ranges and ``search_worst_case(method="cma")`` spends at
most ``--budget`` evaluations there; both score every vector on the same seeded episodes (common random
numbers). Finally ``evaluate_attack`` scores the source under ``uniform``, ``fgsm`` and ``pgd`` perturbations
for each epsilon (after VecNormalize, docs/worst_case.md). Results: ``bench/results/worst_case.json``, rendered
by ``bench/render.py``.

The default setting fits a loaded 2-core machine (5 search seeds, 1 episode per evaluation, episodes cut at
200 steps, 2 attack episodes, PGD with 5 steps); ``--full`` scores every vector on 3 episodes of the tasks'
own length (1000 steps; Reacher 150) and the attacks on 5 episodes with 10 PGD steps.

    python bench/bench_worst_case.py            # default (31 min measured on the loaded 2-core machine)
    python bench/bench_worst_case.py --full     # 3 episodes per vector, full-length episodes
    python bench/bench_worst_case.py --quick    # smoke run (tiny sources and budgets), writes to /tmp
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import measured  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "experiments" / "configs"
RESULTS = REPO / "bench" / "results"

TASKS: dict[str, dict[str, Any]] = {
    # the preset's notes (envs/presets/InvertedPendulum.yaml, from bench_sensitivity) find balancing insensitive
    # to the physics inside the training ranges and losses only at a stronger motor: the pendulum's search box is
    # the preset's extrapolation region (motor gain up to 4x; friction, restitution, actuator and sensor parameters
    # out to twice their training width; mass, damping and gravity as in training), where there is something to find
    "pendulum": {"config": "inverted_pendulum.yaml", "target": "simtransfer/InvertedPendulum-v0", "timesteps": 30000,
                 "ranges": "extrap"},
    "reacher": {"config": "reacher.yaml", "target": "simtransfer/Reacher-v0", "timesteps": 60000, "ranges": "train"},
    "double": {"config": "inverted_double_pendulum.yaml", "target": "simtransfer/InvertedDoublePendulum-v0",
               "timesteps": 60000, "ranges": "train"},
}
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {"seeds": 5, "budget": 100, "random": 100, "episodes": 1, "horizon": 200,
                "epsilons": [0.05, 0.2, 0.5, 1.0, 2.0], "attack_episodes": 2, "attack_steps": 5},
    "full": {"seeds": 5, "budget": 100, "random": 100, "episodes": 3, "horizon": None,
             "epsilons": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0], "attack_episodes": 5, "attack_steps": 10},
    "quick": {"seeds": 1, "budget": 6, "random": 6, "episodes": 1, "horizon": 50,
              "epsilons": [0.1], "attack_episodes": 1, "attack_steps": 2},
}
CHECKPOINTS = (10, 25, 50, 100)


def source(task: str, timesteps: int, work: Path) -> Path:
    """The task's PPO source, trained by the project's ``train`` (reused when a finished one is there)."""
    from simtransfer.envs.yaml_io import load_yaml
    from simtransfer.experiments.config import load_train_config
    from simtransfer.experiments.train import train

    out = work / f"src_{task}"
    if (out / "metadata.json").is_file() and load_yaml(out / "config.yaml").get("total_timesteps") == timesteps:
        return out
    cfg = load_train_config(CONFIGS / TASKS[task]["config"],
                            [f"total_timesteps={timesteps}", "eval.every=0", "checkpoint_every=0",
                             "tracking.mode=disabled", "progress=false"])
    return train(cfg, out, force=True).run_dir


def target_spec(task: str, horizon: int | None) -> dict[str, Any]:
    """The training distribution of ``task``, episodes cut at ``horizon`` steps (None: the task's own)."""
    spec: dict[str, Any] = {"id": TASKS[task]["target"], "name": task}
    if horizon:
        spec["wrappers"] = [{"type": "gymnasium.wrappers:TimeLimit", "kwargs": {"max_episode_steps": horizon}}]
    return spec


def curve(trace: list[dict[str, Any]]) -> dict[str, float]:
    """Best (lowest) return after 10, 25, 50, 100 evaluations."""
    return {str(k): trace[k - 1]["best_return"] for k in CHECKPOINTS if k <= len(trace)}


def evals_to_reach(trace: list[dict[str, Any]], level: float) -> int | None:
    """Evaluations until the search's best return is at or below ``level`` (None: never)."""
    return next((t["evaluation"] for t in trace if t["best_return"] <= level), None)


def estimate(values: list[float]) -> dict[str, Any]:
    from simtransfer.transfer.stats import bootstrap_iqm

    return bootstrap_iqm(np.asarray(values, dtype=float)).to_dict()


def search_task(policy: Any, task: str, s: dict[str, Any], log: Any) -> dict[str, Any]:
    from simtransfer.agents.worst_case import search_worst_case
    from simtransfer.experiments.evaluate import evaluate_loaded_policy

    spec = target_spec(task, s["horizon"])
    nominal = evaluate_loaded_policy(policy, {**spec, "id": TASKS[task]["target"].replace("-v0", "Nominal-v0")},
                                     s["episodes"], 0)
    seeds = []
    for seed in range(s["seeds"]):
        ranges = TASKS[task]["ranges"]
        rnd = search_worst_case(policy, spec, ranges=ranges, budget=s["random"], episodes=s["episodes"],
                                search_seed=seed, method="random")
        cma = search_worst_case(policy, spec, ranges=ranges, budget=s["budget"], episodes=s["episodes"],
                                search_seed=seed, method="cma")
        row = {"search_seed": seed,
               "random": {"worst_return": rnd.worst_return, "evaluations": rnd.evaluations, "curve": curve(rnd.trace),
                          "worst_params": rnd.worst_params, "wall_s": round(rnd.wall_time_s, 1)},
               "cma": {"worst_return": cma.worst_return, "evaluations": cma.evaluations, "curve": curve(cma.trace),
                       "worst_params": cma.worst_params, "wall_s": round(cma.wall_time_s, 1),
                       "evals_to_match_random": evals_to_reach(cma.trace, rnd.worst_return)}}
        seeds.append(row)
        log(f"{task} seed {seed}: random-{rnd.evaluations} worst {rnd.worst_return:.1f}, cma worst "
            f"{cma.worst_return:.1f} in {cma.evaluations} (matched at {row['cma']['evals_to_match_random']})")
    cma_w = [r["cma"]["worst_return"] for r in seeds]
    rnd_w = [r["random"]["worst_return"] for r in seeds]
    return {"ranges": TASKS[task]["ranges"], "nominal_return": nominal.mean_return, "seeds": seeds,
            "summary": {"cma_worst": estimate(cma_w), "random_worst": estimate(rnd_w),
                        "cma_minus_random": estimate([c - r for c, r in zip(cma_w, rnd_w)]),
                        "cma_at_least_as_bad": sum(c <= r for c, r in zip(cma_w, rnd_w)), "n": len(seeds)}}


def attack_task(policy: Any, task: str, s: dict[str, Any], log: Any) -> dict[str, Any]:
    from simtransfer.agents.obs_attack import evaluate_attack
    from simtransfer.experiments.evaluate import evaluate_loaded_policy

    spec = target_spec(task, s["horizon"])
    n = s["attack_episodes"]
    clean = evaluate_loaded_policy(policy, spec, n, 0)
    out: dict[str, Any] = {"episodes": n, "pgd_steps": s["attack_steps"], "epsilons": s["epsilons"],
                           "clean": {"mean": clean.mean_return, "cvar_10": clean.cvar_10, "returns": clean.returns},
                           "curves": {}}
    for attack in ("uniform", "fgsm", "pgd"):
        rows = []
        for eps in s["epsilons"]:
            t0 = time.perf_counter()
            res = evaluate_attack(policy, spec, attack, eps, steps=s["attack_steps"], episodes=n, seed=0)
            rows.append({"epsilon": eps, "mean": res.mean_return, "cvar_10": res.cvar_10, "returns": res.returns,
                         "iqm": estimate(res.returns), "wall_s": round(time.perf_counter() - t0, 1)})
            log(f"{task} {attack} eps={eps:g}: {res.mean_return:.1f}")
        out["curves"][attack] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="3 episodes per vector, full-length episodes")
    mode.add_argument("--quick", action="store_true", help="smoke run: tiny sources and budgets (results to /tmp)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of " + ", ".join(TASKS))
    parser.add_argument("--work", default=str(REPO / "bench" / ".worst_case_runs"), help="where sources live")
    parser.add_argument("--out", default=None, help="results JSON (default bench/results/worst_case.json)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # small MLPs on a shared 2-core machine
    setting = "full" if args.full else "quick" if args.quick else "default"
    s = SETTINGS[setting]
    out = Path(args.out or ("/tmp/worst_case_quick.json" if args.quick else RESULTS / "worst_case.json"))
    work = Path(args.work)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in tasks:
        if t not in TASKS:
            raise SystemExit(f"unknown task '{t}' (known: {', '.join(TASKS)})")

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    from simtransfer.agents.policy_io import load_policy

    record: dict[str, Any] = {"bench": "worst_case", "setting": setting, "settings": s, "tasks": {}}
    with measured(record):
        for task in tasks:
            steps = 2048 if args.quick else TASKS[task]["timesteps"]
            run = source(task, steps, work)
            policy = load_policy(run)
            log(f"{task}: source {run} ({steps} steps)")
            record["tasks"][task] = {"target": TASKS[task]["target"], "source_config": TASKS[task]["config"],
                                     "source_timesteps": steps, "horizon": s["horizon"], "episodes": s["episodes"],
                                     "search": search_task(policy, task, s, log),
                                     "attack": attack_task(policy, task, s, log)}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")  # partial results survive a killed run
    out.write_text(json.dumps(record, indent=1) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
