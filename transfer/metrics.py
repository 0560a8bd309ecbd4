"""Transfer metrics from evaluation curves (Taylor & Stone, 2009).

A *curve* is what ``eval.json`` stores for one run on one target: evaluation timesteps and the mean return
at each. Every metric compares a transfer run with the from-scratch baseline on the same target; the
definitions (and the conventions for negative returns and "never reached") are in ``docs/metrics.md``.

>>> scratch = Curve([0, 10, 20], [0.0, 5.0, 10.0])
>>> warm = Curve([0, 10, 20], [4.0, 8.0, 10.0])
>>> jumpstart(warm, scratch)
4.0
>>> round(transfer_ratio(warm, scratch), 3)      # area above the reference (scratch at t=0)
1.5
>>> time_to_threshold(warm, 8.0), time_to_threshold(scratch, 8.0)
(10.0, 20.0)
>>> time_to_threshold_ratio(10.0, 20.0)          # > 1: transfer reaches the threshold sooner
2.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from simtransfer.envs.errors import SimtransferError

DEFAULT_LAST_K = 3
"""Number of final evaluations averaged into the asymptotic performance."""


@dataclass(frozen=True)
class Curve:
    """An evaluation curve: strictly increasing ``timesteps`` and the ``mean_return`` at each."""

    timesteps: np.ndarray
    mean_return: np.ndarray

    def __init__(self, timesteps: ArrayLike, mean_return: ArrayLike) -> None:
        t = np.asarray(timesteps, dtype=float).reshape(-1)
        r = np.asarray(mean_return, dtype=float).reshape(-1)
        if t.size == 0 or t.size != r.size:
            raise SimtransferError(
                f"a curve needs as many returns as timesteps and at least one point (got {t.size} timesteps, "
                f"{r.size} returns)")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
            raise SimtransferError("a curve contains NaN or infinite timesteps/returns")
        if np.any(np.diff(t) <= 0):
            raise SimtransferError("curve timesteps must be strictly increasing")
        object.__setattr__(self, "timesteps", t)
        object.__setattr__(self, "mean_return", r)

    @classmethod
    def from_dict(cls, data: Mapping) -> Curve:
        """Build from an ``eval.json`` curve entry ``{"timesteps": [...], "mean_return": [...]}``."""
        try:
            return cls(data["timesteps"], data["mean_return"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SimtransferError(f"malformed curve (needs 'timesteps' and 'mean_return' lists): {exc}") from exc

    @property
    def start(self) -> float:
        return float(self.timesteps[0])

    @property
    def end(self) -> float:
        return float(self.timesteps[-1])

    def at(self, t: ArrayLike) -> np.ndarray:
        """Linearly interpolated return at timesteps ``t`` (clamped to the first/last value outside)."""
        return np.interp(np.asarray(t, dtype=float), self.timesteps, self.mean_return)


# ----------------------------------------------------------------------------------------------- grids
def common_window(curves: Sequence[Curve]) -> tuple[float, float]:
    """The timestep interval every curve covers: ``(max of starts, min of ends)``."""
    if not curves:
        raise SimtransferError("no curves to compare")
    start, end = max(c.start for c in curves), min(c.end for c in curves)
    if end < start:
        raise SimtransferError(f"curves do not overlap in time (common window [{start:g}, {end:g}] is empty)")
    return start, end


def common_grid(curves: Sequence[Curve]) -> np.ndarray:
    """Union of all evaluation timesteps inside the common window (the grid curves are compared on)."""
    start, end = common_window(curves)
    t = np.unique(np.concatenate([c.timesteps for c in curves]))
    return t[(t >= start) & (t <= end)]


def resample(curves: Sequence[Curve], grid: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate curves onto one grid: returns ``(grid, values)`` with ``values.shape == (len(curves), G)``."""
    g = common_grid(curves) if grid is None else np.asarray(grid, dtype=float)
    return g, np.stack([c.at(g) for c in curves]) if curves else np.empty((0, g.size))


# ------------------------------------------------------------------------------------ single-curve scalars
def initial_return(curve: Curve) -> float:
    """Return at the first evaluation (the runner evaluates at t=0, before any target training)."""
    return float(curve.mean_return[0])


def asymptotic_return(curve: Curve, k: int = DEFAULT_LAST_K, until: float | None = None) -> float:
    """Mean of the last ``k`` evaluations at or before ``until`` (default: the whole curve)."""
    if k < 1:
        raise SimtransferError(f"last-k must be at least 1, got {k}")
    r = curve.mean_return if until is None else curve.mean_return[curve.timesteps <= until]
    if r.size == 0:
        raise SimtransferError(f"curve has no evaluation before t={until:g}")
    return float(np.mean(r[-k:]))


def mean_return_over(curve: Curve, start: float, end: float) -> float:
    """Area under the (linearly interpolated) curve on ``[start, end]`` divided by ``end - start``.

    That is the curve's average return over the window, so areas of runs of different length compare; a
    zero-length window gives the value at ``start``.
    """
    if end < start:
        raise SimtransferError(f"empty window [{start:g}, {end:g}]")
    if end == start:
        return float(curve.at(start))
    inside = curve.timesteps[(curve.timesteps > start) & (curve.timesteps < end)]
    t = np.concatenate([[start], inside, [end]])
    r = curve.at(t)
    return float(np.sum((r[1:] + r[:-1]) * np.diff(t)) / 2.0 / (end - start))


def time_to_threshold(curve: Curve, threshold: float, until: float | None = None) -> float:
    """First evaluation timestep whose mean return is ``>= threshold`` (``inf`` if never, up to ``until``)."""
    ok = curve.mean_return >= threshold
    if until is not None:
        ok &= curve.timesteps <= until
    hits = np.flatnonzero(ok)
    return float(curve.timesteps[hits[0]]) if hits.size else float("inf")


# --------------------------------------------------------------------------------- comparisons (vectorised)
def ratio_above(transfer: ArrayLike, scratch: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """``(transfer - reference) / (scratch - reference)``; NaN where the denominator is not positive."""
    t, s, b = (np.asarray(x, dtype=float) for x in (transfer, scratch, reference))
    den = s - b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (t - b) / np.where(den > 0, den, 1.0), np.nan)


def time_to_threshold_ratio(t_transfer: ArrayLike, t_scratch: ArrayLike) -> np.ndarray | float:
    """``t_scratch / t_transfer`` (> 1: transfer is faster), defined for every combination.

    Conventions (``inf`` = never reached): transfer never, scratch reached -> 0; transfer reached, scratch
    never -> inf; both never -> NaN (undefined); both at t=0 -> 1; transfer at t=0, scratch later -> inf.
    """
    tt, ts = np.broadcast_arrays(np.asarray(t_transfer, dtype=float), np.asarray(t_scratch, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ts / tt
    out = np.where(np.isinf(tt) & np.isfinite(ts), 0.0, out)
    out = np.where(np.isfinite(tt) & np.isinf(ts), np.inf, out)
    out = np.where(np.isinf(tt) & np.isinf(ts), np.nan, out)
    out = np.where((tt == 0) & (ts == 0), 1.0, out)
    return float(out) if out.ndim == 0 else out


def normalized_score(value: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray | float:
    """``(value - low) / (high - low)``: 0 at ``low`` (random policy), 1 at ``high`` (trained scratch)."""
    out = ratio_above(value, high, low)
    return float(out) if out.ndim == 0 else out


# -------------------------------------------------------------------------------------- pairwise metrics
def jumpstart(transfer: Curve, scratch: Curve) -> float:
    """Initial performance gain: first evaluation of the transfer run minus that of scratch."""
    return initial_return(transfer) - initial_return(scratch)


def asymptotic_gain(transfer: Curve, scratch: Curve, k: int = DEFAULT_LAST_K) -> float:
    """Difference of the asymptotic returns (last ``k`` evaluations inside the common window)."""
    _, end = common_window([transfer, scratch])
    return asymptotic_return(transfer, k, end) - asymptotic_return(scratch, k, end)


def transfer_ratio(transfer: Curve, scratch: Curve, reference: float | None = None) -> float:
    """Area-under-curve ratio above a reference return, on the common window.

    ``reference`` is the return of a random policy on the target; ``None`` uses scratch's first evaluation
    (an untrained policy). NaN when scratch's area above the reference is not positive.
    """
    start, end = common_window([transfer, scratch])
    b = initial_return(scratch) if reference is None else float(reference)
    return float(ratio_above(mean_return_over(transfer, start, end), mean_return_over(scratch, start, end), b))


def relatedness(zero_shot: float, random_return: float, scratch_final: float) -> float:
    """Zero-shot return normalised between a random policy (0) and scratch's final return (1)."""
    return float(normalized_score(zero_shot, random_return, scratch_final))


@dataclass(frozen=True)
class PairMetrics:
    """All Taylor & Stone metrics of one transfer run against one scratch run."""

    jumpstart: float
    asymptotic: float
    asymptotic_gain: float
    transfer_ratio: float
    time_to_threshold: float
    time_to_threshold_scratch: float
    time_to_threshold_ratio: float
    zero_shot: float


def compare(transfer: Curve, scratch: Curve, threshold: float, *, reference: float | None = None,
            k: int = DEFAULT_LAST_K) -> PairMetrics:
    """Every pairwise metric at once; times are measured inside the common window."""
    _, end = common_window([transfer, scratch])
    t_t, t_s = time_to_threshold(transfer, threshold, end), time_to_threshold(scratch, threshold, end)
    return PairMetrics(
        jumpstart=jumpstart(transfer, scratch),
        asymptotic=asymptotic_return(transfer, k, end),
        asymptotic_gain=asymptotic_gain(transfer, scratch, k),
        transfer_ratio=transfer_ratio(transfer, scratch, reference),
        time_to_threshold=t_t,
        time_to_threshold_scratch=t_s,
        time_to_threshold_ratio=float(time_to_threshold_ratio(t_t, t_s)),
        zero_shot=initial_return(transfer),
    )


# ----------------------------------------------------------------------------------- few-shot adaptation
def _check_k(k: int) -> int:
    if int(k) != k or k < 1:
        raise SimtransferError(f"few-shot k must be a whole number of episodes >= 1, got {k}")
    return int(k)


def few_shot_from_curve(curve: Curve, k: int, episode_steps: float) -> float:
    """Return after ``k`` target episodes' worth of target training (``k * episode_steps`` steps): the learning
    curve linearly interpolated there. A point beyond the curve's end (the target budget) is an error.

    >>> few_shot_from_curve(Curve([0, 1000, 2000], [10.0, 50.0, 90.0]), 3, 500)
    70.0
    """
    t = _check_k(k) * float(episode_steps)
    if t > curve.end:
        raise SimtransferError(f"few-shot k={k} needs {t:g} target steps ({k} x {episode_steps:g}), beyond the "
                               f"target budget of {curve.end:g} steps")
    return float(curve.at(t))


def few_shot_from_adaptation(per_episode: Sequence[float], k: int) -> float:
    """RL²: the return of episode ``k`` (1-based) of a meta-test trial (an adaptation curve).

    >>> few_shot_from_adaptation([120.0, 250.0, 300.0], 2)
    250.0
    """
    k = _check_k(k)
    if k > len(per_episode):
        raise SimtransferError(f"few-shot k={k} is beyond the trial's {len(per_episode)} episodes")
    return float(per_episode[k - 1])


def few_shot_return(k: int, *, zero_shot: float | None = None, curve: Curve | None = None,
                    episode_steps: float | None = None, per_episode: Sequence[float] | None = None) -> float:
    """Return after ``k`` target episodes, one axis for every method: a zero-shot policy's return (constant in
    ``k``), a fine-tuning method's ``curve`` at ``k * episode_steps`` target steps, or an RL² policy's episode
    ``k`` of a trial (``per_episode``). Exactly one of the three must be given.

    >>> few_shot_return(5, zero_shot=42.0), few_shot_return(1, per_episode=[7.0, 9.0])
    (42.0, 7.0)
    """
    given = [x is not None for x in (zero_shot, curve, per_episode)]
    if sum(given) != 1:
        raise SimtransferError("few-shot return: give exactly one of zero_shot, curve or per_episode")
    if zero_shot is not None:
        _check_k(k)
        return float(zero_shot)
    if per_episode is not None:
        return few_shot_from_adaptation(per_episode, k)
    if episode_steps is None or episode_steps <= 0:
        raise SimtransferError("few-shot return from a learning curve needs episode_steps > 0")
    return few_shot_from_curve(curve, k, episode_steps)
