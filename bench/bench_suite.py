"""The benchmark suite: every family x every transfer method, 5 seeds, IQM with 95% CIs, winners per target.

Runs each family's experiment (``experiments/configs/suite/families.yaml``: the configs, which set they belong to, expected
time) through the resumable experiment runner, then writes ``bench/results/suite.json`` and one plot per
family (``bench/results/suite_<family>.png``); ``bench/render.py`` turns the JSON into ``suite.md``,
``docs/results.md`` and the README's winners table, so nothing in them is typed by hand.

    python bench/bench_suite.py                        # every family at its <30-minute setting (hours in all)
    python bench/bench_suite.py --families pendulum    # one family (~17 min on 2 cores)
    python bench/bench_suite.py --families hopper --full   # the full locomotion setting: hours (families.yaml)
    python bench/bench_suite.py --report-only          # rebuild tables and plots from finished results

Resumable: results live under ``--out`` (default ``results/suite/<family>``); stop at any time and run the same
command again — finished jobs are skipped, an interrupted source resumes from its checkpoint. Wall time is
accumulated over invocations in ``<out>/<family>/suite_timing.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("WANDB_SILENT", "true")
RESULTS = ROOT / "bench" / "results"
FAMILIES = ROOT / "experiments" / "configs" / "suite" / "families.yaml"


def load_families() -> dict[str, dict[str, Any]]:
    """The index, with each family's full-size setting as one more family ``<name>_full`` (not quick)."""
    import yaml

    families: dict[str, dict[str, Any]] = {}
    for name, fam in yaml.safe_load(FAMILIES.read_text()).items():
        full = fam.pop("full", None)
        families[name] = fam
        if full is not None:
            families[f"{name}_full"] = {**fam, **full, "quick": False, "full_of": name}
    return families


# ---------------------------------------------------------------------------------------------- running
def run_family(name: str, fam: dict[str, Any], out: Path, workers: int, force: bool = False) -> None:
    from machine import machine

    from simtransfer.experiments.runner import run_experiment

    timing_path = out / "suite_timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"invocations": []}
    load0 = os.getloadavg()[0]
    t0 = time.time()
    summary = run_experiment(ROOT / fam["config"], out, workers=workers, force=force)
    if summary.ran:
        timing["invocations"].append({"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)),
                                      "wall_s": round(summary.wall_time_s, 1), "jobs_run": summary.ran,
                                      "failed": summary.failed, "workers": workers,
                                      "load_at_start": round(load0, 2), "load_at_end": round(os.getloadavg()[0], 2),
                                      "machine": machine()})
        out.mkdir(parents=True, exist_ok=True)
        timing_path.write_text(json.dumps(timing, indent=1))
    if summary.failed:
        print(f"{name}: {len(summary.failed)} job(s) failed: {summary.failed[:5]}", file=sys.stderr)


# ------------------------------------------------------------------------------------------- analysing
def job_seconds(out: Path) -> tuple[float, float]:
    """Sums of every finished job's wall time and CPU time (the CPU time does not depend on machine load)."""
    wall = cpu = 0.0
    for marker in list(out.glob("sources/**/job.json")) + list(out.glob("cells/**/cell.json")):
        try:
            m = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        wall += float(m.get("wall_time_s", 0.0))
        cpu += float(m.get("cpu_time_s", m.get("wall_time_s", 0.0)))
    return wall, cpu


def analyse_family(name: str, fam: dict[str, Any], out: Path, reps: int) -> dict[str, Any] | None:
    from simtransfer.experiments.experiment import load_experiment
    from simtransfer.experiments.leaderboard import leaderboard, source_robustness
    from simtransfer.experiments.oracle import oracle_reports, without
    from simtransfer.experiments.report import load_results, summarize
    from simtransfer.experiments.runner import is_done, iter_jobs

    if not out.is_dir():
        return None
    cfg = load_experiment(ROOT / fam["config"])
    jobs = list(iter_jobs(cfg, out))
    done = sum(is_done(j) for j in jobs)
    try:
        results = load_results(out)
    except Exception as exc:  # noqa: BLE001 - nothing finished yet: say so in the table
        return {"family": name, "jobs_done": done, "jobs_total": len(jobs), "error": str(exc)}
    summaries, notes = summarize(results, reps=reps)
    ratios = {(s.target, s.method): s.transfer_ratio for s in summaries if s.transfer_ratio is not None}
    oracles = fam.get("oracles") or {}  # {target: the method label of its oracle}: a reference, never ranked
    verdicts = leaderboard(without(results, set(oracles.values())), reps=reps)
    against_oracle = oracle_reports(results, verdicts, oracles, bar=fam.get("bar"), reps=reps)
    timing_path = out / "suite_timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"invocations": []}
    rob = fam.get("robustness")
    robustness = source_robustness(out, rob["nominal"], rob["heldout"]) if rob else []
    job_s, cpu_s = job_seconds(out)
    return {"family": name, "config": fam["config"], "expected": fam.get("expected"), "seeds": cfg.seed_list(),
            "budget": cfg.budget.model_dump(), "jobs_done": done, "jobs_total": len(jobs),
            "wall_s": sum(i["wall_s"] for i in timing["invocations"]), "invocations": timing["invocations"],
            "timing_note": timing.get("note"),
            "job_s": job_s, "cpu_s": cpu_s, "verdicts": verdicts, "ratios": ratios, "notes": notes,
            "robustness": robustness, "robustness_keys": rob,
            "oracle": [r.to_dict() for r in against_oracle], "oracle_robust": fam.get("robust", []),
            "smoke": fam.get("smoke"),
            "targets": {t.name: (t.env.id or str(t.env.entry_point)) for t in cfg.targets},
            "methods": {m.label: (m.method + (f" from source '{m.source}'" if m.source else ""))
                        for m in cfg.all_methods() if m.label not in oracles.values()},
            "oracles": {t: next((m.method + f" from source '{m.source}'" + _trained(cfg, m.source)
                                 for m in cfg.all_methods() if m.label == o), o) for t, o in oracles.items()}}


def _trained(cfg: Any, source: str | None) -> str:
    """`` (trained 300k steps)``: an oracle's budget, which bounds what it can show."""
    src = cfg.sources.get(source) if source else None
    return f" (trained {src.timesteps // 1000}k steps)" if src is not None and src.timesteps else ""


def plot_family(data: dict[str, Any], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    verdicts = data["verdicts"]
    if not verdicts:
        return False
    fig, axes = plt.subplots(1, len(verdicts), figsize=(4.2 * len(verdicts), 0.45 * len(verdicts[0].scores) + 1.6),
                             squeeze=False)
    for ax, v in zip(axes[0], verdicts, strict=True):
        scores = v.scores[::-1]
        y = range(len(scores))
        vals = [s.score.value for s in scores]
        lo = [s.score.value - s.score.low if not math.isnan(s.score.low) else 0 for s in scores]
        hi = [s.score.high - s.score.value if not math.isnan(s.score.high) else 0 for s in scores]
        colors = ["tab:green" if s.method == v.winner else "tab:gray" if not s.trained else "tab:blue" for s in scores]
        ax.barh(list(y), vals, xerr=[lo, hi], color=colors, alpha=0.8, capsize=3)
        ax.set_yticks(list(y), [s.method for s in scores])
        oracle = next((r["score"]["value"] for r in data.get("oracle") or [] if r["target"] == v.target), None)
        for ref, style, label in ((v.random, ":", "random"), (v.scratch, "--", "scratch"), (oracle, "-.", "oracle")):
            if ref is not None:
                ax.axvline(ref, color="tab:red" if label == "oracle" else "k", linestyle=style, linewidth=1,
                           label=label)
        ax.set_title(v.target)
        ax.set_xlabel("final return (IQM, 95% CI)")
    axes[0][0].legend(loc="lower right", fontsize=7)
    wide = len(verdicts) > 1  # one target: a narrow figure, a short title
    fig.suptitle(f"{data['family']}: " + ("final return on each target " if wide else "") +
                 "(green: winner, gray: zero-shot)", fontsize=12 if wide else 9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def previous_results() -> dict[str, dict[str, Any]]:
    """The families already in ``suite.json``, so that a run whose results root lacks a family (another
    machine, a fresh checkout) keeps its entry."""
    js = RESULTS / "suite.json"
    try:
        data = json.loads(js.read_text()) if js.is_file() else []
        return {e["family"]: e for e in (data if isinstance(data, list) else data.get("families", []))}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_results(analysed: list[dict[str, Any]], order: list[str] | None = None) -> None:
    """Write suite.json from ``analysed``; families in ``order`` without fresh results keep their previous
    entry. ``bench/render.py`` renders the Markdown from it."""
    from simtransfer.experiments.report import _jsonable

    kept = previous_results()
    fresh = {d["family"]: d for d in analysed}
    order = order or list(fresh)

    def plain(d: dict[str, Any]) -> dict[str, Any]:
        if "error" in d:
            return d
        out = {k: v for k, v in d.items() if k not in ("verdicts", "ratios", "robustness")}
        out["verdicts"] = [v.to_dict() for v in d["verdicts"]]
        out["ratios"] = {f"{t}/{m}": e.to_dict() for (t, m), e in d["ratios"].items()}
        out["robustness"] = [vars(r) for r in d["robustness"]]
        return out

    entries = [plain(fresh[n]) if n in fresh else kept[n] for n in order if n in fresh or n in kept]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "suite.json").write_text(json.dumps(_jsonable(entries), indent=1))


def main(argv: list[str] | None = None) -> int:
    families = load_families()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=sorted(families),
                        help="families to run (default: the quick set: " +
                        ", ".join(n for n, f in families.items() if f.get("quick")) + ")")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "suite", help="results root")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel jobs (default: all cores)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild tables/plots from finished results")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--full", action="store_true",
                        help="run the chosen families' full-size settings (hours for locomotion; see families.yaml)")
    parser.add_argument("--force", action="store_true",
                        help="a family's config changed: keep its finished jobs, run the rest under the new config")
    args = parser.parse_args(argv)
    chosen = args.families or [n for n, f in families.items() if f.get("quick")]
    if args.full:
        missing = [n for n in chosen if f"{n}_full" not in families and not n.endswith("_full")]
        if missing:
            parser.error(f"no full-size setting for {', '.join(missing)} (families.yaml has no 'full:')")
        chosen = [n if n.endswith("_full") else f"{n}_full" for n in chosen]
    if not args.report_only:
        for name in chosen:
            print(f"== {name}: {families[name]['config']} ({families[name].get('expected')})", file=sys.stderr)
            run_family(name, families[name], args.out / name, args.workers, args.force)
    analysed = []
    for name in families:  # every family with results on disk, in the index's order
        d = analyse_family(name, families[name], args.out / name, args.reps)
        if d is None:
            continue
        if "error" not in d and plot_family(d, RESULTS / f"suite_{name}.png"):
            d["plot"] = f"suite_{name}.png"
        analysed.append(d)
    write_results(analysed, order=list(families))  # families without results here keep their earlier entries
    import render

    render.main([])
    print((RESULTS / "suite.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
