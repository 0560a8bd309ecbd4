"""Which method wins on which target, and how sure we are: the verdict of a finished experiment.

Every (target, method) cell is scored by its **final return on the target** — after the method's target
budget, or with no target training at all for zero-shot methods (``zeroshot`` and its labelled variants such
as ``dr``/``adr``, which evaluate a differently trained source). Per method the score is the interquartile
mean (IQM) over seeds with a 95% percentile-bootstrap interval (``simtransfer.transfer.stats``). The **winner** is the
method with the highest IQM; every other method whose bootstrap interval of the IQM *difference* to the winner
still contains 0 is reported as **tied** with it, so "wins" means the whole interval of the margin lies above 0.
The probability of improvement ``P(winner > runner-up)`` (Agarwal et al. 2021) is the chance that a random run
of the winner beats a random run of the runner-up.  A trained method whose final return ends below its own
zero-shot start (the interval of final − zero-shot, paired by seed, entirely below 0) is listed under
``lost_source``: it **lost what the source had**.

>>> import numpy as np
>>> probability_of_improvement(np.array([3.0, 4.0]), np.array([1.0, 4.0]))
0.625
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.experiment import load_experiment
from simtransfer.experiments.results import Results, method_order
from simtransfer.transfer.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    Estimate,
    bootstrap_iqm,
    final_minus_zero_shot,
    iqm,
    stratified_bootstrap,
)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) over all pairs of runs, ties counted half (the Mann-Whitney U statistic / (n m))."""
    x, y = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


@dataclass
class MethodScore:
    """Final return of one method on one target over seeds."""

    method: str
    n: int
    score: Estimate
    trained: bool  # False for zero-shot methods (no target training)


@dataclass
class TargetVerdict:
    """The ranking on one target and how clear the win is."""

    target: str
    scores: list[MethodScore]
    winner: str
    tied: list[str] = field(default_factory=list)
    runner_up: str | None = None
    margin: Estimate | None = None  # IQM(winner) - IQM(runner-up) with its bootstrap interval
    p_improvement: float | None = None  # P(winner run > runner-up run)
    scratch: float | None = None
    random: float | None = None
    lost_source: dict[str, Estimate] = field(default_factory=dict)
    """Trained methods that ended below their zero-shot start: final − zero-shot, interval entirely below 0."""

    @property
    def clear(self) -> bool:
        return not self.tied and self.margin is not None and self.margin.low > 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["clear"] = self.clear
        return d


def final_scores(results: Results) -> dict[str, dict[str, tuple[np.ndarray, bool]]]:
    """``{target: {method: (per-seed final returns, trained?)}}`` for every finished cell."""
    out: dict[str, dict[str, tuple[np.ndarray, bool]]] = {}
    for target, data in results.targets.items():
        out[target] = {m: (np.array([r.last_return for r in data.methods[m]], dtype=float),
                           all(r.curve is not None for r in data.methods[m]))
                       for m in method_order(data.methods)}
    return out


def _difference(a: np.ndarray, b: np.ndarray, reps: int, confidence: float, seed: int) -> Estimate:
    return stratified_bootstrap([a, b], lambda x, y: iqm(x, axis=1) - iqm(y, axis=1), reps=reps,
                                confidence=confidence, seed=seed)


def judge_target(target: str, scores: dict[str, tuple[np.ndarray, bool]], *, random: float | None = None,
                 reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> TargetVerdict:
    """Rank the methods on one target by IQM final return; winner, ties, margin and P(improvement)."""
    ranked = [MethodScore(m, len(x), bootstrap_iqm(x, reps=reps, confidence=confidence, seed=seed), trained)
              for m, (x, trained) in scores.items()]
    ranked.sort(key=lambda s: s.score.value, reverse=True)
    best = ranked[0]
    verdict = TargetVerdict(target, ranked, best.method,
                            random=random, scratch=float(iqm(scores["scratch"][0])) if "scratch" in scores else None)
    if len(ranked) == 1:
        return verdict
    win = scores[best.method][0]
    margins = {}
    for other in ranked[1:]:
        diff = margins[other.method] = _difference(win, scores[other.method][0], reps, confidence, seed)
        one_seed = min(len(win), len(scores[other.method][0])) < 2  # a bootstrap of one run says nothing
        if one_seed or not (diff.low > 0):
            verdict.tied.append(other.method)
    second = ranked[1]
    verdict.runner_up = second.method
    verdict.margin = margins[second.method]
    verdict.p_improvement = probability_of_improvement(win, scores[second.method][0])
    return verdict


def other_source_labels(results: Results) -> set[str] | None:
    """Method labels of the experiment that transfer from a named source other than the main one (their
    zero-shot is not the ``zeroshot`` cell); ``None`` when the experiment file cannot be read (then every
    label is taken to use the main source)."""
    path = Path(results.root) / "experiment.yaml"
    try:
        cfg = load_experiment(path)
    except (SimtransferError, OSError):
        return None
    return {m.label for m in cfg.all_methods() if m.source is not None}


def zero_shot_by_seed(results: Results, target: str, method: str,
                      others: set[str] | None = None) -> dict[int, float] | None:
    """``{seed: final return}`` of the ``zeroshot`` cells of ``target`` — the same source's zero-shot return as
    ``method``'s runs, evaluated like their final return — or ``None`` when ``method`` (or ``zeroshot``) uses
    another source, or there are no such cells (then the runs' own t=0 evaluations are the zero-shot return)."""
    others = others or set()
    runs = results.targets[target].methods.get("zeroshot")
    if not runs or method in others or "zeroshot" in others:
        return None
    return {r.seed: r.last_return for r in runs}


def leaderboard(results: Results, *, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                seed: int = 0) -> list[TargetVerdict]:
    """One :class:`TargetVerdict` per target of a loaded results directory (sorted by target name)."""
    verdicts = []
    others = other_source_labels(results)
    for target, scores in sorted(final_scores(results).items()):
        rnd = results.targets[target].random_returns
        verdict = judge_target(target, scores, random=float(iqm(rnd)) if rnd else None,
                               reps=reps, confidence=confidence, seed=seed)
        for method in scores:
            lost = None if method == "scratch" else final_minus_zero_shot(
                results.targets[target].methods[method], zero_shot_by_seed(results, target, method, others),
                reps=reps, confidence=confidence, seed=seed)
            if lost is not None and lost[0].entirely_below(0.0):
                verdict.lost_source[method] = lost[0]
        verdicts.append(verdict)
    return verdicts


# ------------------------------------------------------------------------------ robustness of sources
@dataclass
class SourceRobustness:
    """Zero-shot return of one source on held-out evaluation envs as a fraction of its nominal return."""

    source: str
    seeds: list[int]
    nominal: list[float]
    targets: dict[str, list[float]]  # eval env -> per-seed return
    ratios: dict[str, list[float]]  # eval env -> per-seed return / nominal return

    def _defined_ratios(self, key: str) -> np.ndarray:
        r = np.asarray(self.ratios.get(key, []), dtype=float)
        return r[~np.isnan(r)]

    def ratio_summary(self, key: str) -> tuple[float, float]:
        """Mean and std of the ratio over the seeds where it is defined (a nominal return <= 0 has none)."""
        r = self._defined_ratios(key)
        return (float(np.mean(r)), float(np.std(r))) if r.size else (math.nan, math.nan)

    def defined(self, key: str) -> int:
        """Seeds where the ratio of ``key`` is defined."""
        return int(self._defined_ratios(key).size)


def source_robustness(root: str | Path, nominal_key: str, target_keys: list[str]) -> list[SourceRobustness]:
    """Read every finished source job (``sources/seed*`` = ``main``, ``sources/<name>/seed*``) of a results
    directory and relate its final return on each of ``target_keys`` to its return on ``nominal_key`` (keys
    are the eval names in the source's ``job.json``, e.g. ``InvertedPendulumNominal-v0``)."""
    root = Path(root) / "sources"
    groups: dict[str, list[Path]] = {"main": sorted(root.glob("seed*/job.json"))}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("seed")) if root.is_dir() else []:
        groups[sub.name] = sorted(sub.glob("seed*/job.json"))
    rows = []
    for name, jobs in groups.items():
        row = SourceRobustness(name, [], [], {k: [] for k in target_keys}, {k: [] for k in target_keys})
        for path in jobs:
            job = json.loads(path.read_text())
            final = job.get("final") or {}
            if job.get("status") != "done" or nominal_key not in final:
                continue
            nominal = float(final[nominal_key])
            row.seeds.append(int(job.get("seed", -1)))
            row.nominal.append(nominal)
            for k in target_keys:
                value = float(final.get(k, math.nan))
                row.targets[k].append(value)
                row.ratios[k].append(value / nominal if nominal > 0 else math.nan)
        if row.seeds:
            rows.append(row)
    return rows


def verdict_markdown(verdicts: list[TargetVerdict], *, lost_source: bool = False) -> list[str]:
    """A markdown table: per target the winner, its final return, the margin over the runner-up, the verdict
    (``lost_source``: and a column naming the trained methods that lost what the source had)."""

    lines = ["| target | winner | final return | runner-up | margin | P(winner > runner-up) | verdict |"
             + (" lost what the source had |" if lost_source else ""), "|---|---|---|---|---|---|---|"
             + ("---|" if lost_source else "")]
    for v in verdicts:
        tied = ", ".join(v.tied[:4]) + (f" (+{len(v.tied) - 4})" if len(v.tied) > 4 else "")
        verdict = "**clear win**" if v.clear else f"tied with {tied}" if v.tied else "only method"
        p = "—" if v.p_improvement is None else f"{v.p_improvement:.2f}"
        margin = "—" if v.margin is None else v.margin.format()
        lost = ", ".join(f"{m} ({e.format()})" for m, e in v.lost_source.items()) or "none"
        lines.append(f"| {v.target} | **{v.winner}** | {v.scores[0].score.format()} | {v.runner_up or '—'} | "
                     f"{margin} | {p} | {verdict} |" + (f" {lost} |" if lost_source else ""))
    return lines
