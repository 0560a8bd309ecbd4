"""Weight-reuse transfer vs scratch: time-to-threshold and area-under-curve ratios, several seeds.

A bench is an experiment: each pair is an experiment YAML run by the same runner as ``simtransfer run``
(resumable: finished cells are skipped), one PPO source per seed from the shipped randomized-pendulum config:

* ``physics`` (``experiments/configs/bench/transfer_physics.yaml``): → ``simtransfer/InvertedPendulumExtrap-v0``;
* ``task`` (``experiments/configs/bench/transfer_task.yaml``): → ``simtransfer/InvertedDoublePendulumNominal-v0``
  (obs 5 → 9; the weight-reuse methods go through the index adapter, ``partial`` loads what fits natively).

This script only turns the cells' learning curves into ratios against scratch, writes
``bench/results/transfer.json`` and calls ``bench/render.py``.

    python bench/bench_transfer.py                 # full: 5 seeds (or: simtransfer run <yaml> for one pair)
    python bench/bench_transfer.py --quick         # smoke test: tiny budgets, 1 seed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("WANDB_MODE", "disabled")
import render  # noqa: E402
from machine import load_bench_experiment, measured  # noqa: E402

PAIRS = {"physics": ROOT / "experiments" / "configs" / "bench" / "transfer_physics.yaml",
         "task": ROOT / "experiments" / "configs" / "bench" / "transfer_task.yaml"}


def run_pair(pair: str, cfg: Any, work: Path, workers: int) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Run the pair's experiment and read every cell's eval.json: (spec, {method: [evals per seed]})."""
    from simtransfer.experiments.runner import run_experiment

    summary = run_experiment(cfg, work / pair, workers=workers, report=False)
    spec_ran = summary.ran
    if summary.failed:
        raise SystemExit(f"bench_transfer: {pair}: jobs failed: {summary.failed[:3]}")
    target = cfg.targets[0]
    spec = {"target": target.env.id, "threshold": target.threshold if target.threshold is not None else cfg.threshold,
            "timesteps": target.timesteps or cfg.budget.timesteps, "jobs_run": spec_ran}
    cells = work / pair / "cells" / target.name
    runs = {m.label: [json.loads((cells / m.label / f"seed{s}" / "eval.json").read_text()) for s in cfg.seed_list()]
            for m in cfg.all_methods()}
    return spec, runs


def curve_of(evals: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    c = evals["curves"]["train"]
    return np.asarray(c["timesteps"], dtype=float), np.asarray(c["mean_return"], dtype=float)


def summarize_pair(name: str, spec: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    from simtransfer.transfer.metrics import Curve, mean_return_over, time_to_threshold

    thr = float(spec["threshold"])
    horizon = float(spec["timesteps"])
    scratch = [curve_of(e) for e in runs["scratch"]]
    out: dict[str, Any] = {"target": spec["target"], "threshold": thr, "timesteps": spec["timesteps"], "methods": {}}
    ref = float(np.mean([r[0] for _, r in scratch]))  # untrained policy's return: the AUC reference
    for method, evals in runs.items():
        rows = []
        for seed, ev in enumerate(evals):
            t, r = curve_of(ev)
            ts, rs = scratch[seed]
            if t.size == 1:  # zeroshot: a constant curve over the whole budget
                t, r = np.array([0.0, horizon]), np.array([r[0], r[0]])
            ct, cs = Curve(t, r), Curve(ts, rs)
            ttt, tts = time_to_threshold(ct, thr, horizon), time_to_threshold(cs, thr, horizon)
            auc_t, auc_s = mean_return_over(ct, 0.0, horizon), mean_return_over(cs, 0.0, horizon)
            rows.append({
                "seed": seed, "t_threshold": ttt, "t_threshold_scratch": tts,
                "steps_ratio": _steps_ratio(ttt, tts, horizon),
                "ratio_is_bound": bool(np.isinf(tts) and np.isfinite(ttt)),
                "auc_ratio": (auc_t - ref) / (auc_s - ref) if auc_s - ref > 0 else float("nan"),
                "initial": float(r[0]), "final": float(ev["final"]["train"]["mean_return"]),
            })
        out["methods"][method] = {"runs": rows, **_aggregate(rows)}
    return out


def _steps_ratio(t_transfer: float, t_scratch: float, horizon: float) -> float:
    """Steps to threshold relative to scratch (< 1: faster); inf when only scratch reaches it, nan if neither.

    When only the transfer run reaches it, scratch needs more than the budget: ``t_transfer / budget`` is an
    upper bound of the ratio and is what we report.
    """
    if np.isinf(t_transfer) and np.isinf(t_scratch):
        return float("nan")
    if np.isinf(t_transfer):
        return float("inf")
    if np.isinf(t_scratch):
        return t_transfer / horizon
    if t_scratch == 0:
        return 1.0 if t_transfer == 0 else float("inf")
    return t_transfer / t_scratch


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def stats(key: str) -> dict[str, Any]:
        x = np.asarray([r[key] for r in rows], dtype=float)
        finite = x[np.isfinite(x)]
        return {"median": float(np.median(x)) if x.size else float("nan"),
                "mean": float(finite.mean()) if finite.size else float("nan"),
                "std": float(finite.std()) if finite.size else float("nan"),
                "min": float(np.min(x)) if x.size else float("nan"), "max": float(np.max(x)) if x.size else float("nan"),
                "n_finite": int(finite.size), "n": int(x.size)}

    agg = {k: stats(k) for k in ("steps_ratio", "auc_ratio", "initial", "final", "t_threshold")}
    agg["reached"] = int(sum(np.isfinite(r["t_threshold"]) for r in rows))
    agg["ratio_is_bound"] = bool(any(r["ratio_is_bound"] for r in rows))
    agg["negative_transfer"] = bool(agg["auc_ratio"]["median"] < 1.0)
    return agg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed (smoke test)")
    p.add_argument("--pairs", nargs="*", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--work", default=str(ROOT / "results" / "bench" / "transfer"), help="the experiments' output")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    work = Path(args.work) / ("quick" if args.quick else "full")
    results: dict[str, Any] = {"pairs": {}}
    ran = 0
    with measured(results):  # machine, load and wall time of this invocation (finished cells are skipped)
        for pair in args.pairs:
            cfg = load_bench_experiment(PAIRS[pair], quick=args.quick, quick_target_steps=2048)
            spec, runs = run_pair(pair, cfg, work, args.workers)
            ran += spec.pop("jobs_run")
            results["pairs"][pair] = summarize_pair(pair, spec, runs)
    if not ran:  # nothing trained here: a wall time would measure only the summary
        del results["wall_s"]
    src = cfg.source
    results.update({"source": f"PPO from `{src.config}` ({src.timesteps} steps), one per seed, run by the experiment "
                              f"runner ({', '.join(f'`{PAIRS[q].relative_to(ROOT)}`' for q in args.pairs)})",
                    "source_timesteps": src.timesteps, "seeds": len(cfg.seed_list()), "seed_list": cfg.seed_list(),
                    "eval_every": cfg.budget.eval_every, "episodes": cfg.budget.eval_episodes})
    out = work if args.quick else Path(args.out)  # a smoke test never lands in bench/results
    (out / "transfer.json").write_text(json.dumps(results, indent=2, default=float))
    if not args.quick:
        render.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
