"""Aggregation over seeds: interquartile mean and stratified bootstrap confidence intervals.

Follows Agarwal et al. (2021), *Deep RL at the Edge of the Statistical Precipice* (``rliable``): the point
estimate is the interquartile mean (IQM) of per-run scores, the interval a percentile bootstrap that resamples
runs with replacement *within each stratum* (here: the runs of one method and the runs of the scratch
baseline on one target, resampled independently). Everything is vectorised over bootstrap replicates.

>>> iqm([1.0, 2.0, 3.0, 4.0])          # trims one run each side: mean of 2 and 3
2.5
>>> est = stratified_bootstrap([np.array([1.0, 2.0, 3.0, 4.0, 5.0])], lambda x: iqm(x, axis=1), seed=0)
>>> est.value, est.low <= est.value <= est.high
(3.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer import metrics as M

DEFAULT_REPS = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_THRESHOLD_FRACTION = 0.8
"""Without an explicit threshold: this fraction of the way from the reference return to scratch's final."""


# ------------------------------------------------------------------------------------------------- IQM
def iqm(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean along ``axis``: drop ``floor(n/4)`` values at each end, average the rest.

    Identical to ``scipy.stats.trim_mean(x, 0.25)`` as used by ``rliable``: n=1..3 is the plain mean, n=4
    the mean of the middle two, n=5 of the middle three. ``+inf`` values are allowed (never-reached times).
    """
    a = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = a.shape[axis]
    if n == 0:
        raise SimtransferError("cannot take the interquartile mean of zero runs")
    cut = n // 4
    out = np.take(a, np.arange(cut, n - cut), axis=axis).mean(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


# ------------------------------------------------------------------------------------------- estimates
@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval over ``n`` runs."""

    value: float
    low: float
    high: float
    n: int

    def entirely_below(self, x: float) -> bool:
        """True when the whole interval lies below ``x`` (False if undefined)."""
        return (not math.isnan(self.high)) and self.high < x

    def entirely_above(self, x: float) -> bool:
        return (not math.isnan(self.low)) and self.low > x

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """``"1.23 [0.98, 1.4]"``; ``inf`` as ``∞``, undefined as ``n/a``; the value alone when there is no
        interval (one seed)."""
        if math.isnan(self.low) and math.isnan(self.high):
            return format_number(self.value)
        return f"{format_number(self.value)} [{format_number(self.low)}, {format_number(self.high)}]"


def format_number(x: float) -> str:
    """Readable number: ``1.2M`` / ``12.5k`` / ``4096`` / ``1.27`` / ``0.534``; ``∞`` and ``n/a`` for inf and NaN."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.3g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.3g}k"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}" if abs(x) >= 1 else f"{x:.3f}"


def percentile_interval(samples: ArrayLike, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of bootstrap samples along the last axis.

    NaN replicates (statistic undefined in that resample) are dropped; if more than half are NaN the interval
    is NaN. Infinite samples are allowed (nearest-rank percentiles are used then, never ``inf - inf``).
    """
    s = np.asarray(samples, dtype=float).reshape(-1)
    finite_or_inf = s[~np.isnan(s)]
    if finite_or_inf.size == 0 or finite_or_inf.size * 2 < s.size:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    method = "linear" if np.all(np.isfinite(finite_or_inf)) else "inverted_cdf"
    lo, hi = np.quantile(finite_or_inf, [alpha, 1.0 - alpha], method=method)
    return float(lo), float(hi)


def stratified_bootstrap(strata: Sequence[ArrayLike], statistic: Callable[..., np.ndarray], *,
                         reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                         seed: int = 0) -> Estimate:
    """Point estimate and percentile CI of ``statistic`` under a stratified bootstrap.

    ``strata[i]`` has one row per run (shape ``(n_i, ...)``). Each replicate draws ``n_i`` rows with
    replacement from every stratum independently; ``statistic(*resampled)`` receives arrays of shape
    ``(reps, n_i, ...)`` and must return ``(reps,)``. The point estimate is the statistic of the original data
    (passed with a leading axis of length 1). Same ``seed`` and stratum sizes -> the same resamples, so
    several statistics of the same runs are computed on jointly resampled data.
    """
    if reps < 1:
        raise SimtransferError(f"bootstrap reps must be at least 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise SimtransferError(f"confidence must be in (0, 1), got {confidence}")
    arrays = [np.asarray(s, dtype=float) for s in strata]
    if not arrays or any(a.ndim == 0 or a.shape[0] == 0 for a in arrays):
        raise SimtransferError("every bootstrap stratum needs at least one run")
    rng = np.random.default_rng(seed)
    resampled = [a[rng.integers(0, a.shape[0], size=(reps, a.shape[0]))] for a in arrays]
    point = float(np.asarray(statistic(*[a[None] for a in arrays])).reshape(-1)[0])
    low, high = percentile_interval(np.asarray(statistic(*resampled)), confidence)
    if math.isnan(point):
        low = high = float("nan")
    return Estimate(point, low, high, int(arrays[0].shape[0]))


def bootstrap_iqm(x: ArrayLike, *, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                  seed: int = 0) -> Estimate:
    """IQM of per-run scores with its bootstrap CI (a single stratum)."""
    return stratified_bootstrap([np.asarray(x, dtype=float)], lambda a: iqm(a, axis=1), reps=reps,
                                confidence=confidence, seed=seed)


def iqm_band(values: ArrayLike, *, reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise IQM curve and CI band of ``values`` with shape ``(runs, grid)`` (for learning-curve plots)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] == 0:
        raise SimtransferError("iqm_band needs a (runs, grid) array with at least one run")
    rng = np.random.default_rng(seed)
    boot = iqm(v[rng.integers(0, v.shape[0], size=(reps, v.shape[0]))], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return np.asarray(iqm(v, axis=0)), low, high


# ------------------------------------------------------------------------------------- transfer summary
@dataclass(frozen=True)
class RunResult:
    """One seed of one (target, method) cell: its curve on the target and/or its final return."""

    seed: int
    curve: M.Curve | None = None
    final_return: float | None = None

    def __post_init__(self) -> None:
        if self.curve is None and self.final_return is None:
            raise SimtransferError(f"run seed {self.seed} has neither a curve nor a final return")

    @property
    def last_return(self) -> float:
        """The final evaluation if there is one, else the curve's last point."""
        return float(self.final_return) if self.final_return is not None else float(self.curve.mean_return[-1])


@dataclass(frozen=True)
class TransferSummary:
    """Metrics of one method on one target, aggregated over seeds (IQM + stratified bootstrap CI)."""

    target: str
    method: str
    n: int
    n_scratch: int
    reference: float
    """Return treated as 'no skill' (random policy, or scratch at t=0 when no random cells exist)."""
    reference_source: str
    threshold: float | None
    jumpstart: Estimate | None = None
    asymptotic: Estimate | None = None
    asymptotic_gain: Estimate | None = None
    transfer_ratio: Estimate | None = None
    time_to_threshold: Estimate | None = None
    time_to_threshold_ratio: Estimate | None = None
    zero_shot: Estimate | None = None
    relatedness: Estimate | None = None
    vs_zero_shot: Estimate | None = None
    """Final return minus the zero-shot return of the same source (the source unchanged), paired by seed."""
    below_zero_shot: int = 0
    """Seeds whose final return is below their zero-shot return."""
    negative_reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def negative_transfer(self) -> bool:
        return bool(self.negative_reasons)

    @property
    def lost_source(self) -> bool:
        """"Lost what the source had": the whole interval of final − zero-shot lies below 0."""
        return self.vs_zero_shot is not None and self.vs_zero_shot.entirely_below(0.0)

    def to_dict(self) -> dict:
        d = {k: (v.to_dict() if isinstance(v, Estimate) else v) for k, v in self.__dict__.items()}
        d["negative_reasons"] = list(self.negative_reasons)
        d["negative_transfer"] = self.negative_transfer
        d["lost_source"] = self.lost_source
        return d


def final_minus_zero_shot(runs: Sequence[RunResult], zero_shot: Mapping[int, float] | None = None, *,
                          reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
                          seed: int = 0) -> tuple[Estimate, int] | None:
    """IQM over seeds of (final return − zero-shot return) with its bootstrap interval, and how many seeds ended
    below their zero-shot return; ``None`` for runs without curves.  Paired: each seed is compared with its own
    source.  The zero-shot return of a seed is ``zero_shot[seed]`` (the ``zeroshot`` cell of the same source
    and seed: evaluated like the final return, same episodes and evaluation seed) where given, else the run's
    own t=0 evaluation (which may use fewer episodes, hence be noisier).

    >>> runs = [RunResult(s, M.Curve([0, 10], [1000.0, f]), f) for s, f in enumerate([400.0, 500.0, 450.0])]
    >>> est, below = final_minus_zero_shot(runs)
    >>> est.value, est.entirely_below(0.0), below
    (-550.0, True, 3)
    """
    if not runs or any(r.curve is None for r in runs):
        return None
    zs = zero_shot or {}
    d = np.array([r.last_return - (zs[r.seed] if r.seed in zs else M.initial_return(r.curve)) for r in runs],
                 dtype=float)
    est = bootstrap_iqm(d, reps=reps, confidence=confidence, seed=seed)
    if len(runs) < 2:
        est = Estimate(est.value, math.nan, math.nan, est.n)
    return est, int(np.sum(d < 0))


def negative_transfer_reasons(transfer_ratio: Estimate | None, jumpstart: Estimate | None) -> tuple[str, ...]:
    """Why a method counts as negative transfer: its AUC-ratio CI lies below 1 and/or jumpstart CI below 0."""
    reasons = []
    if transfer_ratio is not None and transfer_ratio.entirely_below(1.0):
        reasons.append("transfer_ratio")
    if jumpstart is not None and jumpstart.entirely_below(0.0):
        reasons.append("jumpstart")
    return tuple(reasons)


def _run_features(runs: Sequence[RunResult], start: float, end: float, k: int, threshold: float | None):
    """Per-run columns: initial, asymptotic, mean return over the window, time-to-threshold, last return."""
    rows = []
    for r in runs:
        c = r.curve
        ttt = M.time_to_threshold(c, threshold, end) if threshold is not None else float("nan")
        rows.append([M.initial_return(c), M.asymptotic_return(c, k, end), M.mean_return_over(c, start, end),
                     ttt, r.last_return])
    return np.asarray(rows, dtype=float)


INIT, ASYM, AUC, TTT, LAST = range(5)


def aggregate(target: str, method: str, runs: Sequence[RunResult], scratch: Sequence[RunResult], *,
              random_returns: Sequence[float] | None = None, threshold: float | None = None,
              zero_shot_returns: Mapping[int, float] | None = None, k: int = M.DEFAULT_LAST_K, reps: int = DEFAULT_REPS,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> TransferSummary:
    """Aggregate one (target, method) cell over seeds against the scratch runs on the same target.

    Runs with curves get every metric, including ``vs_zero_shot`` (final − zero-shot return per seed: from
    ``zero_shot_returns`` {seed: return} where given, else the run's own t=0 point; ``lost_source`` when its interval
    lies below 0); curve-less runs (``zeroshot``) get zero-shot return, relatedness and jumpstart. ``method == "scratch"`` reports absolute values only (no self-comparison). ``threshold=None``
    uses ``reference + 0.8 * (scratch final - reference)``. With a single method or scratch run the intervals
    are NaN (a bootstrap of one run is degenerate). See ``docs/metrics.md`` for every definition.
    """
    if not runs:
        raise SimtransferError(f"no runs for method '{method}' on target '{target}'")
    if not scratch or any(r.curve is None for r in scratch):
        raise SimtransferError(f"target '{target}' needs scratch runs with learning curves as the baseline")
    with_curve = [r.curve is not None for r in runs]
    if any(with_curve) and not all(with_curve):
        raise SimtransferError(f"method '{method}' on target '{target}' mixes runs with and without curves")
    has_curves = all(with_curve)
    boot = {"reps": reps, "confidence": confidence, "seed": seed}

    curves = [r.curve for r in runs if r.curve is not None] + [r.curve for r in scratch]
    start, end = M.common_window(curves)
    rnd = None if not random_returns else np.asarray(random_returns, dtype=float)
    s_init = np.array([M.initial_return(r.curve) for r in scratch])
    reference = float(iqm(rnd)) if rnd is not None else float(iqm(s_init))
    s_last = np.array([r.last_return for r in scratch])
    if threshold is None:
        span = float(iqm(s_last)) - reference
        threshold = reference + DEFAULT_THRESHOLD_FRACTION * span if span > 0 else None
    S = _run_features(scratch, start, end, k, threshold)
    if has_curves:
        T = _run_features(runs, start, end, k, threshold)
    else:  # zero-shot cells: only the final return is known
        T = np.full((len(runs), 5), np.nan)
        T[:, LAST] = [r.last_return for r in runs]
    zcol = INIT if has_curves else LAST

    # the reference is resampled with its own stratum (random runs) or with scratch (its t=0 returns)
    strata = [T, S] + ([rnd] if rnd is not None else [])

    def ref(s, *r):
        return iqm(r[0], axis=1) if r else iqm(s[..., INIT], axis=1)

    def est(fn):
        e = stratified_bootstrap(strata, fn, **boot)
        # one seed carries no information about its own spread: no interval, hence no flag
        return e if min(len(runs), len(scratch)) >= 2 else Estimate(e.value, math.nan, math.nan, e.n)

    zero_shot = est(lambda t, s, *r: iqm(t[..., zcol], axis=1))
    relatedness = est(lambda t, s, *r: M.ratio_above(iqm(t[..., zcol], axis=1), iqm(s[..., LAST], axis=1),
                                                     ref(s, *r)))
    summary = dict(target=target, method=method, n=len(runs), n_scratch=len(scratch), reference=reference,
                   reference_source="random policy" if rnd is not None else "scratch at t=0",
                   threshold=threshold, zero_shot=zero_shot, relatedness=relatedness)
    baseline = method == "scratch"
    if has_curves:
        summary["asymptotic"] = est(lambda t, s, *r: iqm(t[..., ASYM], axis=1))
        if threshold is not None:
            summary["time_to_threshold"] = est(lambda t, s, *r: iqm(t[..., TTT], axis=1))
    if not baseline:
        summary["jumpstart"] = est(lambda t, s, *r: iqm(t[..., zcol], axis=1) - iqm(s[..., INIT], axis=1))
    if has_curves and not baseline:
        summary["asymptotic_gain"] = est(lambda t, s, *r: iqm(t[..., ASYM], axis=1) - iqm(s[..., ASYM], axis=1))
        summary["transfer_ratio"] = est(lambda t, s, *r: M.ratio_above(
            iqm(t[..., AUC], axis=1), iqm(s[..., AUC], axis=1), ref(s, *r)))
        if threshold is not None:
            summary["time_to_threshold_ratio"] = est(lambda t, s, *r: np.asarray(M.time_to_threshold_ratio(
                iqm(t[..., TTT], axis=1), iqm(s[..., TTT], axis=1))))
    lost = final_minus_zero_shot(runs, zero_shot_returns, **boot) if has_curves and not baseline else None
    if lost is not None:
        summary["vs_zero_shot"], summary["below_zero_shot"] = lost
    summary["negative_reasons"] = negative_transfer_reasons(summary.get("transfer_ratio"),
                                                            summary.get("jumpstart"))
    return TransferSummary(**summary)
