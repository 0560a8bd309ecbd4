"""RARL vs uniform domain randomization vs nominal training: mean return, CVaR-10%, searched worst case, extrap.

Per task (InvertedDoublePendulum, Hopper) three training configs in ``experiments/configs/adversarial/``:
``<task>_nominal.yaml`` (nominal physics), ``<task>_dr.yaml`` (uniform DR over the preset's training ranges)
and ``<task>_rarl.yaml`` (nominal physics + a PPO adversary pushing a link, ``agents/rarl.py``), trained per seed
by the project's own ``train``; extra RARL variants with other force bounds (``--forces``) are the sweep that
shows how the result depends on the adversary's strength. Every run is then scored by the project's own
evaluation (``evaluate_run``; ``cvar`` and ``search_worst_case`` from ``agents/``):

* **nominal**: mean return on nominal physics (the cost of robustness: RARL's loss against the nominal run);
* **train dist.**: mean and CVaR-10% (mean of the worst 10% of episodes) on the training distribution;
* **extrap**: mean and CVaR-10% on the held-out extrapolation split;
* **worst case**: the lowest mean return CMA-ES finds over the training ranges of every randomizable parameter
  (``search_worst_case(..., ranges="train")``; the same episodes seeds for every candidate).

Per method: IQM over seeds with 95% stratified-bootstrap intervals (``transfer/stats.py``). The goal (issue 17):
RARL's worst case ≥ 1.2× DR's with ≤ 10% loss of nominal return, as IQM ratios with bootstrap intervals.

    python bench/bench_adversarial.py            # default (about 16 min on an idle 2-core machine): IDP at
                                                 # 120k steps (nominal training reaches 9359 at this budget), 3
                                                 # seeds, worst case 30 evaluations, + a 2.5 N RARL variant (the
                                                 # sweep); Hopper smoke-level. About 25 min.
    python bench/bench_adversarial.py --full     # 5 seeds, the configs' budgets (IDP 150k, Hopper 2M), worst
                                                 # case 100 evaluations x 3 episodes, forces 2.5 / 10 N
    python bench/bench_adversarial.py --quick    # pipeline smoke test (never lands in bench/results)

Runs go to ``bench/.adversarial_runs/`` and are reused when finished (a killed bench continues); evaluations are
cached beside each run. Writes ``bench/results/adversarial.json`` and renders it (``bench/render.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("WANDB_MODE", "disabled")
import render  # noqa: E402
from machine import measured  # noqa: E402

CONFIGS = ROOT / "experiments" / "configs" / "adversarial"
WORK = ROOT / "bench" / ".adversarial_runs"
TASKS = {"idp": ("InvertedDoublePendulum", "inverted_double_pendulum"), "hopper": ("Hopper", "hopper")}
EVAL_SEED = 2_000_000  # episode i of every evaluation resets with EVAL_SEED + i: all runs face the same episodes
GOAL_WORST_RATIO, GOAL_NOMINAL_LOSS = 1.2, 0.10
METRICS = ("nominal", "train_mean", "train_cvar", "extrap_mean", "extrap_cvar", "worst")
FULL = {"seeds": list(range(5)), "timesteps": None, "episodes": 30, "worst_budget": 100, "worst_episodes": 3,
        "forces": [2.5, 10.0]}  # --full, for every task (timesteps None: the configs' budgets)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Per task: seeds, training steps (None: the config's), evaluation sizes and extra RARL force bounds."""
    if args.quick:
        small = {"seeds": [0], "timesteps": 4096, "episodes": 2, "worst_budget": 3, "worst_episodes": 1,
                 "forces": []}
        return {t: dict(small) for t in args.tasks}
    if args.full:
        return {t: dict(FULL) for t in args.tasks}
    out = {"idp": {"seeds": list(range(args.seeds)), "timesteps": args.idp_timesteps, "episodes": 10,
                   "worst_budget": args.worst_budget, "worst_episodes": 2, "forces": args.forces},
           "hopper": {"seeds": [0], "timesteps": args.hopper_timesteps, "episodes": 5, "worst_budget": 8,
                      "worst_episodes": 1, "forces": []}}
    return {t: out[t] for t in args.tasks}


def variants(task: str, forces: list[float]) -> dict[str, tuple[Path, list[str]]]:
    """method label -> (training config, --set overrides)."""
    stem = TASKS[task][1]
    out = {m: (CONFIGS / f"{stem}_{m}.yaml", []) for m in ("nominal", "dr", "rarl")}
    for f in forces:
        out[f"rarl_f{f:g}"] = (CONFIGS / f"{stem}_rarl.yaml", [f"adversary.max_force={f}"])
    return out


def train_run(path: Path, overrides: list[str], seed: int, timesteps: int | None, run: Path) -> dict[str, Any]:
    """Train (or reuse) one run; its wall time and steps."""
    from simtransfer.agents.config import load_train_config
    from simtransfer.agents.train import is_finished, train

    sets = overrides + ([f"total_timesteps={timesteps}", "checkpoint_every=0"] if timesteps else []) + \
        ["progress=false"]
    cfg = load_train_config(path, sets, seed=seed)
    info_path = run / "bench_train.json"
    if is_finished(run, cfg.total_timesteps) and info_path.is_file():
        return json.loads(info_path.read_text())
    for stale in ("bench_train.json", "bench_scores.json"):  # of an earlier setting: the run is redone
        (run / stale).unlink(missing_ok=True)
    result = train(cfg, run, force=run.exists())
    info = {"timesteps": result.num_timesteps, "wall_s": round(result.wall_time_s, 1),
            "cpu_s": round(result.learn_cpu_s, 1), "config": str(path.relative_to(ROOT)), "overrides": overrides}
    info_path.write_text(json.dumps(info))
    return info


def rarl_trace(run: Path) -> dict[str, Any] | None:
    """Phases and the protagonist's return against its adversary at the end (progress.csv), for RARL runs."""
    import csv

    meta = run / "adversary" / "metadata.json"
    if not meta.is_file():
        return None
    rows = list(csv.DictReader((run / "progress.csv").open()))
    vs = [float(r["rarl/protagonist_return_vs_adversary"]) for r in rows
          if r.get("rarl/protagonist_return_vs_adversary") not in (None, "")]
    return {"phases": json.loads(meta.read_text())["rarl"]["phases"], "return_vs_adversary_last": vs[-1] if vs else None}


def score_run(run: Path, task: str, seed: int, s: dict[str, Any]) -> dict[str, Any]:
    """The evaluations of one run (cached in the run directory under the settings that produced them)."""
    from simtransfer.agents.evaluation import cvar
    from simtransfer.agents.worst_case import search_worst_case
    from simtransfer.experiments.evaluate import evaluate_run

    key = {k: s[k] for k in ("episodes", "worst_budget", "worst_episodes")}
    cache = run / "bench_scores.json"
    if cache.is_file():
        old = json.loads(cache.read_text())
        if old.get("key") == key:
            return old["scores"]
    name = TASKS[task][0]
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    nominal = evaluate_run(run, f"simtransfer/{name}Nominal-v0", episodes=s["episodes"], seed=EVAL_SEED)
    out["nominal"] = nominal.mean_return
    for split, env in (("train", f"simtransfer/{name}-v0"), ("extrap", f"simtransfer/{name}Extrap-v0")):
        res = evaluate_run(run, env, episodes=s["episodes"], seed=EVAL_SEED)
        out[f"{split}_mean"], out[f"{split}_cvar"] = res.mean_return, cvar(res.returns)
    worst = search_worst_case(run, f"simtransfer/{name}-v0", ranges="train", budget=s["worst_budget"],
                              episodes=s["worst_episodes"], seed=EVAL_SEED, search_seed=seed, method="cma")
    out["worst"], out["worst_params"] = worst.worst_return, worst.worst_params
    out["eval_wall_s"] = round(time.perf_counter() - t0, 1)
    cache.write_text(json.dumps({"key": key, "scores": out}))
    return out


def estimate(values: list[float]) -> dict[str, Any]:
    from simtransfer.transfer.stats import bootstrap_iqm

    e = bootstrap_iqm(np.asarray(values, dtype=float))
    return {"value": e.value, "low": e.low, "high": e.high, "n": e.n}


def ratio(a: list[float], b: list[float], *, loss: bool = False) -> dict[str, Any]:
    """IQM(a) / IQM(b) (``loss``: 1 − that), with a stratified-bootstrap interval (a, b: independent seeds)."""
    from simtransfer.transfer.stats import iqm, stratified_bootstrap

    def stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = iqm(x, axis=1) / np.where(iqm(y, axis=1) == 0, np.nan, iqm(y, axis=1))
        return 1.0 - r if loss else r

    e = stratified_bootstrap([np.asarray(a, float), np.asarray(b, float)], stat)
    return {"value": e.value, "low": e.low, "high": e.high, "n": e.n}


def summarize(task_runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per method: IQM and interval of each metric; RARL variants against DR and nominal (the goal)."""
    methods = {m: {k: estimate([r["scores"][k] for r in runs]) for k in METRICS} for m, runs in task_runs.items()}
    col = {m: {k: [r["scores"][k] for r in runs] for k in METRICS} for m, runs in task_runs.items()}
    goal = {}
    for m in task_runs:
        if not m.startswith("rarl") or "dr" not in col or "nominal" not in col:
            continue
        w = ratio(col[m]["worst"], col["dr"]["worst"])
        loss = ratio(col[m]["nominal"], col["nominal"]["nominal"], loss=True)
        goal[m] = {"worst_vs_dr": w, "nominal_loss": loss,
                   "met": bool(w["value"] >= GOAL_WORST_RATIO and loss["value"] <= GOAL_NOMINAL_LOSS)}
    return {"methods": methods, "goal": goal}


def full_estimate(task: str, runs: dict[str, list[dict[str, Any]]], s: dict[str, Any]) -> dict[str, Any]:
    """Wall time of ``--full`` for ``task`` at this run's measured speed: training seconds per step of each kind
    of run (RARL variants: RARL's) × the configs' budgets × 5 seeds, and evaluation seconds scaled by the
    number of episodes (a lower bound: episodes lengthen as policies learn)."""
    from simtransfer.agents.config import load_train_config

    full = FULL
    per_step = {m: float(np.mean([r["train"]["wall_s"] / r["train"]["timesteps"] for r in rs])) for m, rs in runs.items()}
    train_s = 0.0
    for label, (path, _) in variants(task, full["forces"]).items():
        kind = "rarl" if label.startswith("rarl") else label
        if kind in per_step:
            train_s += per_step[kind] * load_train_config(path).total_timesteps * len(full["seeds"])

    def cost(x: dict[str, Any]) -> float:
        return 3 * x["episodes"] + x["worst_budget"] * x["worst_episodes"]

    eval_run = float(np.mean([r["scores"]["eval_wall_s"] for rs in runs.values() for r in rs]))
    eval_s = eval_run * cost(full) / cost(s) * len(full["seeds"]) * len(variants(task, full["forces"]))
    return {"train_s": round(train_s), "eval_s": round(eval_s), "total_s": round(train_s + eval_s)}


def run_task(task: str, s: dict[str, Any], work: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for label, (path, overrides) in variants(task, s["forces"]).items():
        for seed in s["seeds"]:
            run = work / task / f"{label}__{seed}"
            print(f"bench_adversarial: {task} {label} seed {seed}", file=sys.stderr, flush=True)
            info = train_run(path, overrides, seed, s["timesteps"], run)
            scores = score_run(run, task, seed, s)
            runs.setdefault(label, []).append({"seed": seed, "train": info, "scores": scores,
                                               "rarl": rarl_trace(run)})
    return {"settings": s, "runs": runs, **summarize(runs), "full_estimate": full_estimate(task, runs, s)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["idp", "hopper"], choices=list(TASKS))
    ap.add_argument("--full", action="store_true", help="5 seeds, the configs' budgets, the full worst-case search")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny budgets, 1 seed (not written to results)")
    ap.add_argument("--seeds", type=int, default=3, help="default setting: IDP seeds")
    ap.add_argument("--idp-timesteps", type=int, default=120_000, help="default setting: IDP training steps")
    ap.add_argument("--hopper-timesteps", type=int, default=16_384, help="default setting: Hopper steps (smoke)")
    ap.add_argument("--worst-budget", type=int, default=30, help="default setting: IDP worst-case evaluations")
    ap.add_argument("--forces", type=float, nargs="*", default=[2.5], help="default setting: extra RARL bounds (N)")
    ap.add_argument("--out", type=Path, default=render.RESULTS / "adversarial.json")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    work = WORK / mode
    record: dict[str, Any] = {"mode": mode, "goal": {"worst_ratio": GOAL_WORST_RATIO,
                                                     "nominal_loss": GOAL_NOMINAL_LOSS}}
    with measured(record):
        record["tasks"] = {t: run_task(t, s, work) for t, s in settings(args).items()}
    if args.quick:
        print(json.dumps(record["tasks"], indent=1, default=str)[:4000])
        return 0
    args.out.write_text(json.dumps(record, indent=1, default=float) + "\n")
    return render.main([])


if __name__ == "__main__":
    sys.exit(main())
