"""Does fine-tuning keep what the source knew?  Final return against the run's own zero-shot start, per variant.

One experiment YAML per family run by the experiment runner (resumable: finished cells are skipped):
``experiments/configs/bench/keep_source.yaml`` (pendulum) — a PPO source per seed that only just learned the
randomized pendulum (it stops at the first evaluation >= 950), then a short target budget on held-out physics
(interp, extrap), with variants that separate the hypotheses:

* ``ft-update``: the old behaviour (carried VecNormalize statistics keep updating on the target);
* ``ft-stats-only``: statistics update, weights do not move (learning rate 1e-12): the statistics alone;
* ``ft-frozen-obs`` / ``ft-frozen``: observation / all statistics frozen, the policy learns: the update alone;
* ``ft-warmup``, ``ft-pull``, ``ft-keep``: frozen statistics plus critic warm-up, KL pull, or both;
* ``finetune``, ``freeze``, ``l2sp``: the methods with their (new) defaults (``*-old``: the old ones).

``keep_source_double.yaml`` (double pendulum, sources stopped at >= 5000): old vs new ``finetune`` only (5 seeds).
``keep_source_reacher.yaml`` (reacher, sources stopped at their first evaluation >= 6 on 20 episodes, 20,480
target steps, 50 final episodes paired with the zero-shot cell's): ``finetune``, ``freeze``, ``l2sp`` with the new
defaults, ``ft-frozen`` (no pull: what the pull costs), ``ft-pull1`` (a 10x weaker pull), ``ft-decay`` (the pull
fading to 0 over the budget) and ``ft-update`` (the old default), 5 seeds.

Per (target, variant): IQM over seeds of final − zero-shot (paired by seed: each run against the ``zeroshot`` cell
of its seed, the source unchanged and evaluated like the final return) with a 95% bootstrap interval, the seeds that ended below their start, and
the "lost what the source had" flag of the report, and whether it improved on zero-shot at all (the interval lies
above 0).  Families not run keep their earlier record.  Writes ``bench/results/keep_source.json`` and renders it.

    python bench/bench_keep.py --workers 1     # full: every family (--families pendulum double_pendulum reacher)
    python bench/bench_keep.py --quick         # smoke test: tiny budgets, 1 seed (never lands in bench/results)
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

CONFIGS = ROOT / "experiments" / "configs" / "bench"
# family -> (experiment, the return at t=0 from which a source "had" the task on the target)
FAMILIES = {"pendulum": (CONFIGS / "keep_source.yaml", 950.0),
            "double_pendulum": (CONFIGS / "keep_source_double.yaml", 5000.0),
            "reacher": (CONFIGS / "keep_source_reacher.yaml", 6.0)}
DECIMALS = {"reacher": 1}  # rendered decimals of a return (reacher's are of order 10)
NOTES = {"reacher": (
    "What *learned* means here: a reacher source has learned its task once its mean return over 20 episodes on the "
    "randomized training physics reaches 6 — the return at which the project's reacher ADR counts a boundary as "
    "mastered (`experiments/configs/reacher_adr.yaml`); a random policy scores about -12, the zoo's 150k-step "
    "sources 7-15 on nominal physics (IQM per kind 8-12), RL Zoo's PPO 17 and the registered *solved* 18. Each source stops at the first evaluation (every 10k steps) that "
    "reaches it. Returns vary by about ±10 between episodes (goal position), so the final evaluation uses 50 "
    "episodes with the zero-shot cell's seeds: the same goals and physics, paired episode by episode. The target "
    "budget is a multiple of the 2048-step rollout.")}
LOST_FRACTION = 0.95  # ... and lost it when its final return ends below this fraction of its start
# reacher: one seed's 50-episode mean moves by about 1 (paired standard error) when the policy changes at all, so a
# pair counts as lost below 70% of its start (a drop of about 2 at a start of 6-8), not within that noise
LOST_FRACTIONS = {"reacher": 0.7}


def summarize(cfg: Any, work: Path) -> dict[str, Any]:
    """Per target and variant: per-seed start/final and the paired final − zero-shot estimate."""
    from simtransfer.experiments.results import load_results
    from simtransfer.transfer.stats import bootstrap_iqm, final_minus_zero_shot

    results = load_results(work)
    options = {m.label: {"method": m.method, "options": m.options} for m in cfg.all_methods()}
    out: dict[str, Any] = {}
    for target, data in sorted(results.targets.items()):
        zs = {r.seed: r.last_return for r in data.methods.get("zeroshot", [])}
        rows: dict[str, Any] = {}
        for label, runs in data.methods.items():
            runs = sorted(runs, key=lambda r: r.seed)
            finals = np.array([r.last_return for r in runs])
            entry = {**options.get(label, {"method": label, "options": {}}),
                     "final": bootstrap_iqm(finals).to_dict(), "seeds": [r.seed for r in runs],
                     "per_seed_final": finals.tolist()}
            if runs and runs[0].curve is not None:
                entry["per_seed_t0"] = [float(r.curve.mean_return[0]) for r in runs]
                # the zero-shot return: the zeroshot cell of the seed (evaluated like the final return), else t=0
                entry["per_seed_start"] = [zs.get(r.seed, float(r.curve.mean_return[0])) for r in runs]
                if label != "scratch":
                    est, below = final_minus_zero_shot(runs, zs)
                    entry.update(vs_zero_shot=est.to_dict(), below_zero_shot=below,
                                 lost_source=bool(est.entirely_below(0.0)), improved=bool(est.entirely_above(0.0)))
                    t0, _ = final_minus_zero_shot(runs)  # against the t=0 evaluations (fewer episodes)
                    entry["vs_t0"] = t0.to_dict()
            rows[label] = entry
        out[target] = rows
    return out


def competent(results: dict[str, Any], bar: float, lost_fraction: float = LOST_FRACTION) -> dict[str, Any]:
    """Per variant, pooled over targets: the (target, seed) pairs whose source started at ``bar`` or above, and
    those of them that ended below ``lost_fraction`` of their start (the drop issue 19 reported)."""
    out: dict[str, Any] = {}
    for target, rows in results.items():
        for label, e in rows.items():
            if "per_seed_start" not in e or label == "scratch":
                continue
            row = out.setdefault(label, {"pairs": 0, "lost": 0, "lost_pairs": [], "worst_final": None})
            for seed, start, final in zip(e["seeds"], e["per_seed_start"], e["per_seed_final"], strict=True):
                if start < bar:
                    continue
                row["pairs"] += 1
                if final < lost_fraction * start:
                    row["lost"] += 1
                    row["lost_pairs"].append({"target": target, "seed": seed, "start": start, "final": final})
                row["worst_final"] = final if row["worst_final"] is None else min(row["worst_final"], final)
    return out


def job_times(cfg: Any, work: Path) -> dict[str, Any]:
    """Summed wall and CPU seconds of the experiment's finished jobs (their marker files): the cost of the whole
    setting on one worker, also when the run was resumed (a wall time of this process would miss the earlier part)."""
    cells = {(t.name, m.label) for t in cfg.targets for m in cfg.all_methods()}
    paths = sorted((work / "sources").rglob("job.json")) + [
        p for p in sorted((work / "cells").rglob("cell.json")) if (p.parents[2].name, p.parents[1].name) in cells]
    markers = [m for m in (json.loads(p.read_text()) for p in paths) if m.get("status") == "done"]
    return {"jobs": len(markers), "jobs_wall_s": round(sum(m.get("wall_time_s", 0.0) for m in markers), 1),
            "jobs_cpu_s": round(sum(m.get("cpu_time_s", 0.0) for m in markers), 1)}


def run_family(family: str, quick: bool, work: Path, workers: int) -> tuple[dict[str, Any], int]:
    """Run (or continue) one family's experiment; its summary and how many jobs ran here."""
    from simtransfer.experiments.runner import run_experiment

    path, bar = FAMILIES[family]
    cfg = load_bench_experiment(path, quick=quick, quick_target_steps=1024)
    work = work / family / ("quick" if quick else "full")
    summary = run_experiment(cfg, work, workers=workers, force=True, report=False)  # redo changed cells only
    if summary.failed:
        raise SystemExit(f"bench_keep: {family}: jobs failed: {summary.failed[:3]}")
    b = cfg.budget
    record = {"experiment": str(path.relative_to(ROOT)), "source_config": cfg.source.config,
              "source_timesteps": cfg.source.timesteps, "source_set": cfg.source.set,
              "seed_list": cfg.seed_list(), "target_timesteps": b.timesteps, "eval_every": b.eval_every,
              "eval_episodes": b.eval_episodes, "final_episodes": b.final_episodes,
              "targets": {t.name: t.env.id for t in cfg.targets}, "results": summarize(cfg, work),
              "competent_bar": bar, "lost_fraction": LOST_FRACTIONS.get(family, LOST_FRACTION), "decimals": DECIMALS.get(family, 0)}
    if family in NOTES:
        record["note"] = NOTES[family]
    record["competent"] = competent(record["results"], bar, record["lost_fraction"])
    record.update(job_times(cfg, work))
    return record, int(summary.ran)


MEASURED = ("machine", "load_before", "started", "wall_s", "load_after")


def merge(previous: dict[str, Any], ran: dict[str, Any]) -> dict[str, Any]:
    """The new record: the families run now, the others carried over from ``previous`` (each family keeps the
    machine and load of the run that measured it; records written before that moved them into the family
    get the top-level ones, which that run measured).

    >>> old = {"machine": {"cpus": 2}, "started": "t0", "families": {"pendulum": {"x": 1}, "reacher": {"x": 2}}}
    >>> new = merge(old, {"reacher": {"x": 3, "started": "t1"}})
    >>> new["families"]["pendulum"], new["families"]["reacher"]
    ({'x': 1, 'machine': {'cpus': 2}, 'started': 't0'}, {'x': 3, 'started': 't1'})
    """
    carried = {k: previous[k] for k in MEASURED if k in previous}
    families: dict[str, Any] = {}
    for family in FAMILIES:
        if family in ran:
            families[family] = ran[family]
        elif family in previous.get("families", {}):
            old = previous["families"][family]
            families[family] = old if "machine" in old else {**old, **carried}
    return {"families": families}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed (smoke test)")
    p.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--work", default=str(ROOT / "results" / "bench" / "keep_source"),
                   help="the experiments' output (one folder per family)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    ran: dict[str, Any] = {}
    for family in args.families:  # each family records the machine and load of its own run
        fam: dict[str, Any] = {}
        with measured(fam):
            record, n = run_family(family, args.quick, Path(args.work), args.workers)
        if not n:  # nothing trained here: the wall time and load would describe only the summary
            for key in ("wall_s", "started", "load_before", "load_after"):
                del fam[key]
        ran[family] = {**record, **fam}
    out = Path(args.work) if args.quick else Path(args.out)
    path = out / "keep_source.json"
    previous = json.loads(path.read_text()) if path.is_file() and not args.quick else {}
    path.write_text(json.dumps(merge(previous, ran), indent=2, default=float) + "\n")
    if not args.quick:
        render.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
