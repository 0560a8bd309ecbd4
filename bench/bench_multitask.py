"""Multi-task vs single-task sources: which is the better start on a held-out related task?

One experiment YAML run by the experiment runner (resumable: finished jobs are skipped):
``experiments/configs/bench/multitask_pendulum.yaml`` — PPO sources of the same size (10,000 steps per seed):
``multi`` (three InvertedPendulum motor strengths 0.5x / 1x / 2x mixed per episode, no task id),
``multi_onehot`` (the same with a task one-hot, zeros on the target) and the single-task sources ``weak``,
``nominal``, ``strong``; each fine-tuned (``finetune``, its defaults) on a 3x motor, outside every source task,
against ``scratch``.

Per source: jumpstart and area-under-curve ratio against scratch (the report's aggregation: IQM over seeds,
stratified bootstrap 95% intervals), and the unpaired differences multi − single of the t=0 return and of the
mean return over the target budget (stratified bootstrap over the two sources' seeds). A difference whose interval
lies above 0 is a win for the multi-task source, below 0 a loss, otherwise a tie. Also recorded: each source's
own final return per training task (the multi-task run's ``eval.json`` has one entry per task).
Writes ``bench/results/multitask.json`` and renders it.

    python bench/bench_multitask.py               # default: 3 seeds (26 min on 2 cores at load 15-20)
    python bench/bench_multitask.py --seeds 5     # the full setting: 5 seeds (about 50 min from nothing)
    python bench/bench_multitask.py --quick       # smoke test: tiny budgets, 1 seed (never lands in bench/results)

Both settings share one work folder (``results/bench/multitask/full``): ``--seeds 5`` after the default trains
only seeds 3 and 4; the default after ``--seeds 5`` prunes them again (the runner removes unplanned runs).
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

EXPERIMENT = ROOT / "experiments" / "configs" / "bench" / "multitask_pendulum.yaml"
MULTI = ("ft-multi", "ft-multi-onehot")  # method labels fine-tuned from a multi-task source
SINGLE = ("ft-weak", "ft-nominal", "ft-strong")


def _est(e: Any) -> dict[str, Any] | None:
    return None if e is None else e.to_dict()


def differences(runs: dict[str, list[Any]], start: float, end: float) -> dict[str, Any]:
    """Multi − single, for each multi-task and each single-task label: IQM of the t=0 return and of the mean
    return over [start, end], each difference with its stratified-bootstrap interval and a verdict."""
    from simtransfer.transfer.metrics import mean_return_over
    from simtransfer.transfer.stats import iqm, stratified_bootstrap

    def feats(label: str) -> np.ndarray:
        return np.array([[float(r.curve.mean_return[0]), mean_return_over(r.curve, start, end)]
                         for r in sorted(runs[label], key=lambda r: r.seed)])

    out: dict[str, Any] = {}
    for m in (x for x in MULTI if x in runs):
        for s in (x for x in SINGLE if x in runs):
            a, b = feats(m), feats(s)
            row = {}
            for col, key in ((0, "start"), (1, "auc_mean")):
                est = stratified_bootstrap([a[:, col], b[:, col]],
                                           lambda x, y, c=col: iqm(x, axis=1) - iqm(y, axis=1))
                verdict = "win" if est.entirely_above(0.0) else "loss" if est.entirely_below(0.0) else "tie"
                row[key] = {**est.to_dict(), "verdict": verdict}
                if min(len(a), len(b)) < 2:  # one seed says nothing about its spread
                    row[key].update(low=float("nan"), high=float("nan"), verdict="n/a (one seed)")
            out[f"{m} vs {s}"] = row
    return out


def source_scores(work: Path, cfg: Any) -> dict[str, Any]:
    """Each source's final return on its own training task(s), per seed (from its eval.json)."""
    from simtransfer.experiments.jobs import source_dir

    out: dict[str, Any] = {}
    for name in [None, *cfg.sources]:
        rows: dict[str, list[float]] = {}
        for seed in cfg.seed_list():
            path = source_dir(work, name, seed) / "eval.json"
            final = json.loads(path.read_text()).get("final", {}) if path.is_file() else {}
            for task, res in final.items():
                rows.setdefault(task, []).append(float(res["mean_return"]))
        out[name or "multi"] = rows
    return out


def run(quick: bool, work: Path, workers: int, seeds: int | None) -> tuple[dict[str, Any], int]:
    from simtransfer.experiments.report import summarize
    from simtransfer.experiments.results import load_results
    from simtransfer.experiments.runner import run_experiment
    from simtransfer.transfer.metrics import common_window

    cfg = load_bench_experiment(EXPERIMENT, quick=quick, quick_target_steps=1024)
    if quick:
        for src in cfg.sources.values():
            src.timesteps, src.set = cfg.source.timesteps, [*src.set, "eval.every=1024"]
    elif seeds is not None:
        cfg.seeds = seeds
    work = work / ("quick" if quick else "full")  # --seeds 5 after 3 reuses the finished seeds
    summary = run_experiment(cfg, work, workers=workers, force=True, report=False)  # redo changed jobs only
    if summary.failed:
        raise SystemExit(f"bench_multitask: jobs failed: {summary.failed[:3]}")
    results = load_results(work)
    summaries, notes = summarize(results)
    b = cfg.budget
    record: dict[str, Any] = {
        "experiment": str(EXPERIMENT.relative_to(ROOT)), "seed_list": cfg.seed_list(),
        "source_timesteps": {"multi": cfg.source.timesteps, **{n: s.timesteps for n, s in cfg.sources.items()}},
        "target_timesteps": b.timesteps, "eval_every": b.eval_every, "eval_episodes": b.eval_episodes,
        "final_episodes": b.final_episodes, "threshold": cfg.threshold, "notes": notes,
        "jobs_run": int(summary.ran), "jobs_reused": int(summary.skipped),  # the wall time covers jobs_run only
        "methods": {m.label: {"method": m.method, "source": m.source or "multi"} for m in cfg.all_methods()},
        "targets": {}, "sources": source_scores(work, cfg)}
    for target, data in results.targets.items():
        rows = {s.method: {"jumpstart": _est(s.jumpstart), "transfer_ratio": _est(s.transfer_ratio),
                           "asymptotic": _est(s.asymptotic), "time_to_threshold": _est(s.time_to_threshold),
                           "negative_transfer": s.negative_transfer, "n": s.n}
                for s in summaries if s.target == target}
        curves = [r.curve for runs in data.methods.values() for r in runs]
        start, end = common_window(curves)
        per_seed = {label: {"t0": [float(r.curve.mean_return[0]) for r in sorted(runs, key=lambda r: r.seed)],
                            "final": [r.last_return for r in sorted(runs, key=lambda r: r.seed)]}
                    for label, runs in data.methods.items()}
        record["targets"][target] = {"env": next(t.env.model_dump(mode="json") for t in cfg.targets
                                                 if t.name == target),
                                     "methods": rows, "per_seed": per_seed, "window": [start, end],
                                     "multi_vs_single": differences(data.methods, start, end)}
    return record, int(summary.ran)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed (smoke test)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the YAML's 3; full: 5)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--work", default=str(ROOT / "results" / "bench" / "multitask"), help="the experiment's output")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    record: dict[str, Any] = {}
    with measured(record):
        body, ran = run(args.quick, Path(args.work), args.workers, args.seeds)
    record.update(body)
    if not ran:  # nothing trained here: a wall time would measure only the summary
        del record["wall_s"]
    out = Path(args.work) if args.quick else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "multitask.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    if not args.quick:
        render.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
