"""Weight-reuse transfer vs scratch: time-to-threshold and area-under-curve ratios, several seeds.

Pairs (one PPO source trained on the randomized pendulum, ``simtransfer/InvertedPendulum-v0``):

* ``physics``: → ``simtransfer/InvertedPendulumExtrap-v0`` (held-out physics, extrapolation split);
* ``task``: → ``simtransfer/InvertedDoublePendulumNominal-v0`` (obs 5 → 9; the weight-reuse methods go
  through the ``invpendulum_to_invdoublependulum`` index adapter, ``partial`` loads what fits natively).

Every run lives in ``--work`` and is skipped when its ``eval.json`` exists, so the bench is resumable: rerun
the same command after an interruption.  Results: ``bench/results/transfer.{json,md}``.

    python bench/bench_transfer.py                 # full: 5 seeds
    python bench/bench_transfer.py --quick         # smoke test: tiny budgets, 1 seed
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
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")

SOURCE_ENV = "simtransfer/InvertedPendulum-v0"
PPO_HYPER = {"n_steps": 1024, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4}
ADAPTER = {"adapter": "invpendulum_to_invdoublependulum"}
PAIRS: dict[str, dict[str, Any]] = {
    "physics": {
        "target": "simtransfer/InvertedPendulumExtrap-v0",
        "threshold": 600.0,
        "timesteps": 12_000,
        "methods": {
            "scratch": {}, "zeroshot": {}, "finetune": {}, "freeze": {"depth": 1}, "features": {},
            "l2sp": {"alpha": 0.1},
        },
    },
    "task": {
        "target": "simtransfer/InvertedDoublePendulumNominal-v0",
        "threshold": 500.0,
        "timesteps": 12_000,
        "methods": {"scratch": {}, "zeroshot": dict(ADAPTER), "finetune": dict(ADAPTER), "partial": {}},
    },
}


def source_config(timesteps: int, eval_every: int, episodes: int) -> dict[str, Any]:
    return {"env": SOURCE_ENV, "algo": "ppo", "seed": 0, "total_timesteps": timesteps, "hyperparams": PPO_HYPER,
            "eval": {"every": eval_every, "episodes": episodes}, "checkpoint_every": 0, "progress": False,
            "tracking": {"mode": "disabled"}}


def ensure_source(work: Path, timesteps: int, eval_every: int, episodes: int) -> Path:
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train

    out = work / "source"
    if not (out / "eval.json").is_file():
        t0 = time.time()
        train(resolve_train_config(source_config(timesteps, eval_every, episodes), use_defaults=False), out,
              force=True)
        print(f"[bench] source trained in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def run_one(source: Path, out: Path, target: str, method: str, options: dict[str, Any], seed: int, timesteps: int,
            eval_every: int, episodes: int) -> dict[str, Any]:
    from simtransfer.transfer.api import transfer

    if not (out / "eval.json").is_file():
        t0 = time.time()
        overrides = [f"eval.every={eval_every}", f"eval.episodes={episodes}", "eval.final_episodes=" + str(episodes),
                     "checkpoint_every=0", "progress=false"]
        transfer(source, target, method, out_dir=out, timesteps=timesteps, seed=seed, options=options,
                 overrides=overrides, force=True, quiet=True)
        print(f"[bench] {out.relative_to(out.parents[2])} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return json.loads((out / "eval.json").read_text())


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


def _fmt(x: float) -> str:
    if np.isnan(x):
        return "n/a"
    if np.isinf(x):
        return "never"
    return f"{x:.2f}" if abs(x) < 100 else f"{x:.0f}"


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Weight-reuse transfer vs scratch", "",
             f"Source: PPO on `{SOURCE_ENV}` ({results['source_timesteps']} steps, seed 0). "
             f"{results['seeds']} target seeds per method, evaluation every {results['eval_every']} steps "
             f"({results['episodes']} episodes). Steps ratio = steps to threshold / scratch's steps, paired by "
             "seed (< 1: faster; 'never': the method never reached it while scratch did); AUC ratio = area above "
             "the untrained return, method / scratch (> 1: better; < 1: negative transfer). '≤': scratch never "
             "reached the threshold within the budget on some seed, so the ratio there is the upper bound "
             "steps/budget. Median [min, max] over seeds (no bootstrap interval: few seeds). Curves start with "
             "the prepared policy's score at t=0. Metrics computed with `simtransfer.transfer.metrics` (time_to_threshold, "
             "mean_return_over).", ""]
    for pair, res in results["pairs"].items():
        lines += [f"## {pair}: → `{res['target']}` (threshold {res['threshold']:.0f}, budget {res['timesteps']})", "",
                  "| method | reached | steps ratio | AUC ratio | initial return | final return | negative? |",
                  "|---|---|---|---|---|---|---|"]
        for method, m in res["methods"].items():
            sr, ar = m["steps_ratio"], m["auc_ratio"]
            lines.append(
                f"| {method} | {m['reached']}/{sr['n']} | {'≤' if m['ratio_is_bound'] else ''}{_fmt(sr['median'])} "
                f"[{_fmt(sr['min'])}, {_fmt(sr['max'])}] "
                f"| {_fmt(ar['median'])} [{_fmt(ar['min'])}, {_fmt(ar['max'])}] "
                f"| {m['initial']['mean']:.0f} ± {m['initial']['std']:.0f} | {m['final']['mean']:.0f} ± "
                f"{m['final']['std']:.0f} | {'yes' if m['negative_transfer'] and method != 'scratch' else ''} |")
        lines.append("")
    lines.append(f"Seeds: {results.get('seed_list')}. Wall time of this invocation: {results['wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=1, help="start at this seed (to split the bench over processes)")
    p.add_argument("--name", default=None, help="results file stem (default: transfer)")
    p.add_argument("--summarize", action="store_true",
                   help="train nothing: summarize the seeds whose runs are all finished (e.g. of split processes)")
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed (smoke test)")
    p.add_argument("--pairs", nargs="*", default=list(PAIRS))
    p.add_argument("--work", default=str(ROOT / "bench" / ".transfer_runs"))
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    seeds = 1 if args.quick else args.seeds
    eval_every, episodes, src_steps = (512, 1, 2048) if args.quick else (2000, 2, 30_000)
    work = Path(args.work) / ("quick" if args.quick else "full")
    source = work / "source" if args.summarize else ensure_source(work, src_steps, 10_000 if not args.quick else 1024,
                                                                  episodes)
    results: dict[str, Any] = {"source_timesteps": src_steps, "seeds": seeds, "eval_every": eval_every,
                               "episodes": episodes, "pairs": {}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or ("transfer_quick" if args.quick else "transfer")
    specs = {}
    for pair in args.pairs:
        specs[pair] = dict(PAIRS[pair])
        if args.quick:
            specs[pair]["timesteps"] = 2048
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {p: {} for p in specs}
    # seed-major over both pairs: an interrupted bench still has every method of every pair on its first seeds;
    # the results files are rewritten after every completed seed
    done_seeds = 0
    results["seed_list"] = []
    for seed in range(args.first_seed, seeds + 1):
        if args.summarize and not all((work / p / label / f"seed{seed}" / "eval.json").is_file()
                                      for p, sp in specs.items() for label in sp["methods"]):
            continue
        done_seeds += 1
        results["seed_list"].append(seed)
        for pair, spec in specs.items():
            for label, entry in spec["methods"].items():
                method, options = entry if isinstance(entry, tuple) else (label, entry)
                run_dir = work / pair / label / f"seed{seed}"
                runs[pair].setdefault(label, []).append(
                    run_one(source, run_dir, spec["target"], method, dict(options), seed, spec["timesteps"],
                            eval_every, episodes))
        results["seeds"] = done_seeds
        results["pairs"] = {p: summarize_pair(p, specs[p], runs[p]) for p in specs}
        results["wall_s"] = time.time() - t0
        (out / f"{name}.json").write_text(json.dumps(results, indent=2, default=float))
        (out / f"{name}.md").write_text(markdown(results))
        print(f"[bench] seed {seed} done ({results['wall_s']:.0f} s)", file=sys.stderr, flush=True)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
