"""Tables and plots from a finished experiment (``simtransfer report RESULTS_DIR``).

Reads the results layout written by ``simtransfer run`` (see ``docs/metrics.md``), aggregates every
(target, method) over seeds with :func:`simtransfer.transfer.stats.aggregate` and writes ``RESULTS/report/``:
``report.md``, ``summary.csv``, ``summary.json`` and PNG plots.

>>> from simtransfer.experiments.report import build_report            # doctest: +SKIP
>>> report = build_report("results/hopper")                 # doctest: +SKIP
>>> report.files["markdown"]                                # doctest: +SKIP
PosixPath('results/hopper/report/report.md')
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simtransfer.agents.tracking import fallback_mode
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.few_shot import few_shot_json, few_shot_lines
from simtransfer.experiments.leaderboard import (
    leaderboard,
    other_source_labels,
    verdict_markdown,
    zero_shot_by_seed,
)
from simtransfer.experiments.report_plots import write_plots
from simtransfer.experiments.results import (  # noqa: F401  (importable from here as before)
    METHOD_ORDER,
    Results,
    TargetData,
    load_results,
    method_order,
    read_eval,
)
from simtransfer.experiments.video import video_lines, wandb_videos
from simtransfer.experiments.worst_case_stage import risk_markdown, risk_rows
from simtransfer.transfer.metrics import DEFAULT_LAST_K
from simtransfer.transfer.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    TransferSummary,
    aggregate,
    format_number,
)

METRICS = ("jumpstart", "asymptotic", "asymptotic_gain", "transfer_ratio", "time_to_threshold",
           "time_to_threshold_ratio", "zero_shot", "relatedness", "vs_zero_shot")
LABELS = {"jumpstart": "jumpstart", "asymptotic": "asymptotic", "asymptotic_gain": "asym. gain",
          "transfer_ratio": "AUC ratio", "time_to_threshold": "time to thr.",
          "time_to_threshold_ratio": "TTT ratio", "zero_shot": "zero-shot", "relatedness": "relatedness",
          "vs_zero_shot": "final − zero-shot"}
@dataclass
class Report:
    """What :func:`build_report` produced."""

    results: Results
    summaries: list[TransferSummary]
    notes: list[str]
    files: dict[str, Path]


# --------------------------------------------------------------------------------------- aggregation
def summarize(results: Results, *, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
              seed: int = 0, k: int = DEFAULT_LAST_K) -> tuple[list[TransferSummary], list[str]]:
    """One :class:`TransferSummary` per (target, method); notes explain anything left out."""
    summaries, notes = [], []
    others = other_source_labels(results)
    for target in sorted(results.targets):
        data = results.targets[target]
        if len(data.thresholds) > 1:
            raise SimtransferError(f"cells of target '{target}' disagree on the threshold: {sorted(data.thresholds)}")
        scratch = data.methods.get("scratch")
        if not scratch:
            notes.append(f"target '{target}' has no finished scratch runs: no baseline, left out")
            continue
        threshold = next(iter(data.thresholds), None)
        for method in method_order(data.methods):
            summaries.append(aggregate(target, method, data.methods[method], scratch,
                                       random_returns=data.random_returns or None, threshold=threshold,
                                       zero_shot_returns=zero_shot_by_seed(results, target, method, others),
                                       k=k, reps=reps, confidence=confidence, seed=seed))
    if not summaries:
        raise SimtransferError(f"no target in {results.root} has a finished scratch baseline to compare with")
    return summaries, notes


# -------------------------------------------------------------------------------------------- tables
def _jsonable(x: Any) -> Any:
    """Strict JSON: NaN -> null, +-inf -> "inf"/"-inf"."""
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def table_rows(summaries: list[TransferSummary]) -> list[dict[str, Any]]:
    """Flat rows (one per target x method) with ``<metric>``, ``<metric>_low``, ``<metric>_high`` columns."""
    rows = []
    for s in summaries:
        row: dict[str, Any] = {"target": s.target, "method": s.method, "n": s.n, "n_scratch": s.n_scratch,
                               "reference": s.reference, "reference_source": s.reference_source,
                               "threshold": s.threshold}
        for m in METRICS:
            e = getattr(s, m)
            row[m], row[f"{m}_low"], row[f"{m}_high"] = (e.value, e.low, e.high) if e else (None, None, None)
        row["negative_transfer"] = s.negative_transfer
        row["negative_reasons"] = ";".join(s.negative_reasons)
        row["lost_source"] = s.lost_source
        row["below_zero_shot"] = s.below_zero_shot
        rows.append(row)
    return rows


def _cell(s: TransferSummary, metric: str) -> str:
    e = getattr(s, metric)
    return "—" if e is None else e.format()


def _negative(s: TransferSummary) -> str:
    return "**yes** (" + ", ".join(LABELS[r] for r in s.negative_reasons) + ")" if s.negative_transfer else "no"


def _lost(s: TransferSummary) -> str:
    if s.vs_zero_shot is None:
        return "—"
    below = f" ({s.below_zero_shot}/{s.n} seeds below)" if s.below_zero_shot else ""
    return f"**yes**{below}" if s.lost_source else f"no{below}"


def lost_source_lines(summaries: list[TransferSummary]) -> list[str]:
    """The "lost what the source had" section: trained methods whose final return ends below zero-shot."""
    flagged = [s for s in summaries if s.lost_source]
    return [f"- `{s.method}` on `{s.target}`: final − zero-shot {s.vs_zero_shot.format()} "
            f"({s.below_zero_shot}/{s.n} seeds ended below their start)" for s in flagged] or [
        "None detected: no trained method's interval of final − zero-shot lies entirely below 0."]


def markdown(results: Results, summaries: list[TransferSummary], notes: list[str], plots: dict[str, Path],
             settings: dict[str, Any]) -> str:
    """The ``report.md`` text."""
    targets = list(dict.fromkeys(s.target for s in summaries))
    methods = method_order({s.method for s in summaries})
    by = {(s.target, s.method): s for s in summaries}
    pct = round(100 * settings["confidence"])
    out = [f"# Transfer report: {results.name}", "",
           f"Results: `{results.root}` — {len(targets)} target(s), methods: {', '.join(methods)}. "
           f"Every number is the interquartile mean (IQM) over seeds with a {pct}% stratified-bootstrap "
           f"interval `[low, high]` ({settings['reps']} resamples, seed {settings['seed']}); asymptotic = "
           f"mean of the last {settings['k']} evaluations. Definitions: `docs/metrics.md`.", "",
           "Read it as: **AUC ratio** > 1 and **TTT ratio** > 1 mean the method learns faster than scratch, "
           "**jumpstart** > 0 that it starts better, **relatedness** near 1 that the source policy already "
           "solves the target as well as scratch does after training. *Negative transfer* is flagged when "
           "the whole interval of the AUC ratio lies below 1 or that of the jumpstart below 0. Every trained "
           "method is also compared with **zero-shot** (its own source, unchanged: the `zeroshot` cell of the same "
           "seed, else the run's t=0 evaluation): *lost what the source had* is flagged when the whole interval of "
           "final − zero-shot (paired by seed) lies below 0.", "",
           *_winners(results, settings),
           *risk_markdown(risk_rows(results.root)),
           "## Transfer ratio (area under the curve relative to scratch)", "",
           "| method | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for m in methods:
        if m in ("scratch", "zeroshot"):
            continue
        out.append(f"| {m} | " + " | ".join(_cell(by[(t, m)], "transfer_ratio") if (t, m) in by else "—"
                                             for t in targets) + " |")
    flagged = [s for s in summaries if s.negative_transfer]
    out += ["", "## Negative transfer", ""]
    out += [f"- `{s.method}` on `{s.target}`: interval of the "
            f"{' and of the '.join(LABELS[r] for r in s.negative_reasons)} below the baseline" for s in flagged] or ["None detected: no interval lies entirely on the wrong side of scratch."]
    out += ["", "## Lost what the source had (final below zero-shot)", "", *lost_source_lines(summaries)]
    for name, title in (("ratios", "Transfer ratios"), ("heatmap", "Zero-shot return before target training")):
        if name in plots:
            out += ["", f"## {title}", "", f"![{title}]({plots[name].name})"]
    cols = ["n", *METRICS, "negative", "lost source"]
    for t in targets:
        s0 = by[(t, "scratch")]
        thr = "none (no threshold, scratch never rose above the reference)" if s0.threshold is None else \
            format_number(s0.threshold)
        out += ["", f"## {t}", "",
                f"Reference (0 on the normalised scale): {format_number(s0.reference)} ({s0.reference_source}); "
                f"threshold: {thr}; scratch runs: {s0.n}.", "",
                "| method | " + " | ".join(LABELS.get(c, c) for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for m in methods:
            if (t, m) in by:
                s = by[(t, m)]
                out.append(f"| {m} | {s.n} | " + " | ".join(_cell(s, c) for c in METRICS) + f" | {_negative(s)} | {_lost(s)} |")
        if f"curves:{t}" in plots:
            out += ["", f"![learning curves on {t}]({plots[f'curves:{t}'].name})"]
    out += few_shot_lines(results, reps=settings["reps"], confidence=settings["confidence"], seed=settings["seed"])
    out += video_lines(results.root)
    if results.sources:
        out += ["", "## Source runs", "", "| seed | final return (train distribution) |", "|---|---|"]
        out += [f"| {k} | {'—' if v is None else format_number(v)} |" for k, v in sorted(results.sources.items())]
    if notes or results.skipped:
        out += ["", "## Left out", ""] + [f"- {n}" for n in notes] + [f"- `{s}`" for s in results.skipped]
    return "\n".join(out) + "\n"


def _winners(results: Results, settings: dict[str, Any]) -> list[str]:
    """The "which method wins" section (``simtransfer.experiments.leaderboard``): final return on each target."""
    verdicts = leaderboard(results, reps=settings["reps"], confidence=settings["confidence"], seed=settings["seed"])
    return ["## Which method wins (final return on the target, IQM over seeds)", "",
            "Winner: highest IQM of the final return (zero-shot methods: without target training). A *clear win* "
            "needs the whole interval of its margin over every other method above 0; else the methods it cannot be "
            "told apart from are listed as tied. *Lost what the source had*: trained methods whose final return "
            "ends below their zero-shot start (interval of the paired difference below 0).", "",
            *verdict_markdown(verdicts, lost_source=True), ""]


def print_table(summaries: list[TransferSummary], file=None) -> None:
    """The main table, with rich, on stderr (human output)."""
    table = Table(title="Transfer metrics (IQM [95% CI] over seeds)", show_lines=False)
    cols = ("jumpstart", "transfer_ratio", "time_to_threshold_ratio", "asymptotic_gain", "zero_shot", "relatedness",
            "vs_zero_shot")
    for c in ("target", "method", "n", *(LABELS[c] for c in cols), "negative", "lost source"):
        table.add_column(c, no_wrap=c in ("target", "method"), overflow="fold")
    for s in summaries:
        neg = f"[bold red]yes[/] ({', '.join(LABELS[r] for r in s.negative_reasons)})" if s.negative_transfer else "no"
        lost = ("[bold red]yes[/]" if s.lost_source else "no") if s.vs_zero_shot is not None else "—"
        table.add_row(s.target, s.method, str(s.n), *(_cell(s, c) for c in cols), neg, lost)
    stream = file or sys.stderr
    Console(file=stream, width=None if stream.isatty() else 180).print(table)


# ------------------------------------------------------------------------------------------- building
def build_report(results_dir: str | Path, *, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                 seed: int = 0, k: int = DEFAULT_LAST_K, plots: bool = True) -> Report:
    """Load, aggregate and write ``RESULTS/report/`` (markdown, CSV, JSON and, unless disabled, PNGs)."""
    results = load_results(results_dir)
    summaries, notes = summarize(results, reps=reps, confidence=confidence, seed=seed, k=k)
    out = results.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    settings = {"reps": reps, "confidence": confidence, "seed": seed, "k": k}
    files: dict[str, Path] = {}
    if plots:
        files.update(write_plots(results, summaries, out, reps=reps, confidence=confidence, seed=seed))
    rows = table_rows(summaries)
    files["csv"] = out / "summary.csv"
    with files["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    files["json"] = out / "summary.json"
    payload = {"experiment": results.name, "results_dir": str(results.root), "settings": settings,
               "summaries": [s.to_dict() for s in summaries], "sources": results.sources,
               "risk": risk_rows(results.root),
               "notes": notes, "skipped": results.skipped,
               "few_shot": few_shot_json(results, reps=reps, confidence=confidence, seed=seed)}
    files["json"].write_text(json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")
    files["markdown"] = out / "report.md"
    files["markdown"].write_text(markdown(results, summaries, notes, files, settings))
    return Report(results, summaries, notes, files)


def log_report_to_wandb(results_dir: str | Path, mode: str = "offline", *, project: str = "simtransfer") -> bool:
    """Log the written report (tables + images) as one W&B run in group = experiment name.

    Never raises: any failure (no report yet, W&B unavailable, no network) prints a warning and returns False.
    """
    mode = fallback_mode(mode)  # online W&B already failed in this experiment: do not wait for it again
    try:
        import wandb

        out = Path(results_dir) / "report"
        payload = json.loads((out / "summary.json").read_text())
        with (out / "summary.csv").open() as fh:
            rows = list(csv.reader(fh))
        run = wandb.init(project=project, group=payload["experiment"], job_type="report", mode=mode,
                         name=f"{payload['experiment']}__report", dir=str(out), config=payload["settings"])
        try:
            logged: dict[str, Any] = {"report/summary": wandb.Table(columns=rows[0], data=rows[1:])}
            for png in sorted(out.glob("*.png")):
                logged[f"report/{png.stem}"] = wandb.Image(str(png))
            logged.update(wandb_videos(results_dir))
            run.log(logged)
            for s in payload["summaries"]:
                ratio = s.get("transfer_ratio")
                if isinstance(ratio, dict) and isinstance(ratio.get("value"), float):
                    run.summary[f"transfer_ratio/{s['target']}/{s['method']}"] = ratio["value"]
        finally:
            run.finish()
        return True
    except Exception as exc:  # the report itself is already on disk; tracking must never fail it
        print(f"simtransfer: warning: W&B logging of the report skipped: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return False
