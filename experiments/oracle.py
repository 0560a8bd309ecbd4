"""Oracle-normalised scores: how much of what a target's physics allows each method reaches, and why a
target has no clear winner.

An **oracle** is a policy trained on the target itself with a generous budget; in an experiment it is a
zero-shot method from a source trained on the target env (``{method: zeroshot, label: oracle, source:
oracle}``). It is a reference, not a contender: :func:`without` drops the oracle labels from loaded results
before :func:`~simtransfer.experiments.leaderboard.leaderboard` ranks them, :func:`oracle_fraction` gives a
method's IQM final return as a fraction of the oracle's IQM with a stratified-bootstrap interval (the
robustness of a DR/ADR source: held-out return / oracle return), and :func:`target_status` says what a target's
verdict means:

* ``clear win`` — the leaderboard's winner, the interval of its margin over every other method above 0;
* ``physics-capped`` — even the oracle stays below the family's bar (its interval's upper end is below it) and
  no method beats it: the target's physics, at the oracle's budget, does not let any policy do well (an oracle
  that some method beats, interval of the fraction above 1, is too weak to show a cap: the reason says so);
* ``saturated`` — the winner and a method tied with it both reach ``reach`` (default 0.9) of the oracle:
  several methods do what the physics allows, so there is nothing left to separate;
* ``undecided`` — tied below the oracle: the intervals are too wide at this many seeds. The reason names the
  seeds that would make the margin's interval exclude 0 if the margin stayed as measured (the half-width shrinks
  like 1/sqrt(seeds): ``seeds * (half-width / margin)^2``), or says that the measured margin is not positive.

>>> import numpy as np
>>> oracle_fraction(np.array([900.0, 950.0, 1000.0]), np.array([1000.0, 1000.0, 1000.0]), seed=0).value
0.95
>>> seeds_to_decide(Estimate(100.0, -50.0, 250.0, 3))
7
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from simtransfer.experiments.leaderboard import TargetVerdict
from simtransfer.experiments.results import Results
from simtransfer.transfer.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPS,
    Estimate,
    bootstrap_iqm,
    iqm,
    stratified_bootstrap,
)

REACH = 0.9
"""A method "reaches the oracle" at this fraction of the oracle's IQM (the issue's robustness goal)."""


def without(results: Results, labels: set[str] | list[str]) -> Results:
    """A copy of ``results`` without the cells of the methods in ``labels`` (the oracles: not ranked)."""
    drop = set(labels)
    return replace(results, targets={
        name: replace(data, methods={m: runs for m, runs in data.methods.items() if m not in drop})
        for name, data in results.targets.items()})


def _ratio_of_iqms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    den = np.asarray(iqm(y, axis=1), dtype=float)
    num = np.asarray(iqm(x, axis=1), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def oracle_fraction(x: np.ndarray, oracle: np.ndarray, *, reps: int = DEFAULT_REPS,
                    confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Estimate:
    """IQM(``x``) / IQM(``oracle``) with a stratified-bootstrap interval (the two sets of runs resampled
    independently); undefined (NaN) where the oracle's IQM is not positive."""
    return stratified_bootstrap([np.asarray(x, dtype=float), np.asarray(oracle, dtype=float)], _ratio_of_iqms,
                                reps=reps, confidence=confidence, seed=seed)


def seeds_to_decide(margin: Estimate) -> int | None:
    """Seeds at which the margin's interval would exclude 0 if its IQM held and its half-width shrank like
    1/sqrt(seeds); ``None`` when the measured margin is not positive or has no interval."""
    half = (margin.high - margin.low) / 2
    if not margin.value > 0 or math.isnan(half) or margin.n < 1:
        return None
    return max(margin.n, math.ceil(margin.n * (half / margin.value) ** 2))


@dataclass
class OracleReport:
    """One target against its oracle: the oracle's score, every ranked method as a fraction of it, the verdict."""

    target: str
    oracle: str
    score: Estimate
    bar: float | None
    fractions: dict[str, Estimate] = field(default_factory=dict)
    status: str = "undecided"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def target_status(verdict: TargetVerdict, oracle: Estimate | None, fractions: dict[str, Estimate],
                  bar: float | None = None, reach: float = REACH) -> tuple[str, str]:
    """``(status, reason)`` of one target: clear win, physics-capped, saturated or undecided (module docstring)."""
    if verdict.clear:
        return "clear win", f"{verdict.winner} beats {verdict.runner_up} by {verdict.margin.format()}"
    beaten = [m for m, f in fractions.items() if f.entirely_above(1.0)]  # then the oracle is no upper bound
    if oracle is not None and bar is not None and oracle.entirely_below(bar) and not beaten:
        return "physics-capped", f"the oracle reaches {oracle.format()}, below the bar {bar:g}"
    weak = f"; the oracle ({oracle.format()}) is beaten by {', '.join(beaten)}: too weak to show a cap" if beaten else ""
    top = [m for m in [verdict.winner, *verdict.tied] if m in fractions and fractions[m].value >= reach]
    if oracle is not None and verdict.winner in top and len(top) > 1 and not beaten:
        return "saturated", (f"{len(top)} methods reach ≥ {reach:g} of the oracle: " + ", ".join(top))
    if verdict.margin is None:
        return "undecided", "one method" + weak
    need = seeds_to_decide(verdict.margin)
    gap = f"margin over {verdict.runner_up} {verdict.margin.format()}"
    if need is None:
        return "undecided", f"{gap}: no positive margin to confirm" + weak
    return "undecided", f"{gap}: about {need} seeds would decide it if the margin held" + weak


def oracle_reports(results: Results, verdicts: list[TargetVerdict], oracles: dict[str, str], *,
                   bar: float | None = None, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                   seed: int = 0) -> list[OracleReport]:
    """Per target of ``verdicts`` with an oracle in ``oracles`` (``{target: oracle method label}``) whose cells
    are finished: the oracle's IQM, every ranked method as a fraction of it, and the target's status."""
    out = []
    for v in verdicts:
        label = oracles.get(v.target)
        runs = results.targets[v.target].methods.get(label) if label else None
        if not runs:
            continue
        o = np.array([r.last_return for r in runs], dtype=float)
        report = OracleReport(v.target, label, bootstrap_iqm(o, reps=reps, confidence=confidence, seed=seed), bar)
        for s in v.scores:
            x = np.array([r.last_return for r in results.targets[v.target].methods[s.method]], dtype=float)
            report.fractions[s.method] = oracle_fraction(x, o, reps=reps, confidence=confidence, seed=seed)
        report.status, report.reason = target_status(v, report.score, report.fractions, bar)
        out.append(report)
    return out
