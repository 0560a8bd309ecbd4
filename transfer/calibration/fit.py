"""Fit simulator parameters to logged trajectories: delay by enumeration, physics by CMA-ES, noise from residuals.

1. The delay (whole control steps; actuation + sensing, see :mod:`.simulator`) is enumerated ``0..max_delay``,
   each with a short CMA-ES run on a subset of windows; the best one is kept (the others' costs are reported).
2. The physics parameters (relative kinds in log scale, absolute ones linearly) are fitted by CMA-ES (``cma``)
   to the mean squared multi-step prediction error, each observation dimension scaled by the spread of its
   one-step changes.
3. Uncertainty: a sandwich covariance (episode-clustered, robust to correlated residuals) from the residual
   Jacobian at the optimum; a parameter whose 95% interval is wider than +-50% (or that is >0.95 correlated
   with another) is reported unidentifiable.
4. Observation noise: one-step residuals ``r = n_{k+1} - J n_k`` give ``E|r_d|^2 = s^2 (1 + |J_d|^2)`` per
   observation dimension ``d``, with ``J`` the simulator's one-step Jacobian w.r.t. the start observation (finite
   differences); the estimate is the median over the dimensions with a small noise gain (see :func:`_noise`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simtransfer.agents.trajectories import Trajectories
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import KINDS, build_parameter, parse_name
from simtransfer.transfer.calibration.simulator import Simulator, make_windows

#: Signal kinds and what calibration does with them.
DELAY_KINDS = ("action_latency", "obs_latency")
NOT_IDENTIFIED = {"action_noise": "action noise is not separable from model error in prediction residuals",
                  "obs_bias": "a per-episode random offset has no fixed value to fit",
                  "control_period": "fixed by the log's time stamps (checked, not fitted)"}


@dataclass
class Estimate:
    name: str
    value: float
    low: float | None = None  # 95% interval
    high: float | None = None
    identified: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "low": self.low, "high": self.high,
                "identified": self.identified, "note": self.note}


@dataclass
class Fit:
    estimates: dict[str, Estimate]
    delay_costs: dict[int, float]
    cost_nominal: float
    cost_fit: float
    evaluations: int
    seconds: float
    windows: list[tuple[int, int]] = field(default_factory=list)
    horizon: int = 10

    def values(self) -> dict[str, float]:
        return {k: e.value for k, e in self.estimates.items()}


def split_params(names: list[str], source: str) -> tuple[list[str], list[str]]:
    """(physics, signal) parameter names; unknown kinds are one-line errors."""
    physics, signals = [], []
    for name in names:
        kind, _ = parse_name(name)
        if KINDS[kind].target == "game":
            raise SimtransferError(f"{source}: parameter '{name}' is a Box2D game setting, not a PyBullet one")
        (signals if KINDS[kind].target == "signal" else physics).append(name)
        build_parameter(name, {"dist": "categorical", "choices": [1.0 if KINDS[kind].relative_default
                                                                 else KINDS[kind].nominal_absolute]})
    return physics, signals


class _Objective:
    def __init__(self, sim: Simulator, physics: list[str], windows, horizon: int, warmup: int = 0) -> None:
        self.sim, self.physics, self.windows, self.horizon = sim, physics, windows, horizon
        self.warmup = warmup
        eps = sim.data.episodes
        self.target = np.stack([eps[e].observations[k + 1:k + 1 + horizon] for e, k in windows])
        diffs = np.concatenate([np.diff(ep.observations, axis=0) for ep in eps])
        self.scale = np.maximum(diffs.std(axis=0), 1e-6)
        self.rel = [KINDS[parse_name(n)[0]].relative_default for n in physics]
        self.nominal = [1.0 if r else float(KINDS[parse_name(n)[0]].nominal_absolute) for n, r in zip(physics, self.rel)]
        self.evals = 0

    def values(self, z: np.ndarray) -> dict[str, float]:
        return {n: (nom * math.exp(float(x)) if r else nom + float(x) * max(1.0, abs(nom)))
                for n, r, nom, x in zip(self.physics, self.rel, self.nominal, z)}

    def residuals(self, z: np.ndarray, delay: int) -> np.ndarray:
        self.evals += 1
        pred = self.sim.predict(self.values(z), delay, self.windows, self.horizon, warmup=self.warmup)
        return (pred - self.target) / self.scale

    def cost(self, z: np.ndarray, delay: int) -> float:
        r = self.residuals(z, delay)
        c = float(np.mean(r * r))
        return c if math.isfinite(c) else 1e12


def _cma(obj: _Objective, delay: int, x0: np.ndarray, sigma: float, maxfevals: int, seed: int) -> tuple[np.ndarray, float]:
    if len(x0) == 0:
        return x0, obj.cost(x0, delay)
    import cma

    n = len(x0)
    start = list(x0) + [0.0] * (n == 1)  # cma needs >= 2 dimensions: a dummy coordinate the cost ignores
    es = cma.CMAEvolutionStrategy(start, sigma, {"seed": seed + 1, "maxfevals": maxfevals, "verbose": -9,
                                                 "bounds": [[-2.5] * len(start), [2.5] * len(start)],
                                                 "tolfun": 1e-7, "tolx": 1e-4})
    es.optimize(lambda z: obj.cost(np.asarray(z[:n]), delay))
    return np.asarray(es.result.xbest[:n]), float(es.result.fbest)


def _covariance(obj: _Objective, z: np.ndarray, delay: int) -> np.ndarray:
    """Episode-clustered sandwich covariance of ``z`` (search coordinates)."""
    r0 = obj.residuals(z, delay).reshape(len(obj.windows), -1)
    eps = 1e-3
    jac = []
    for i in range(len(z)):
        dz = np.zeros_like(z)
        dz[i] = eps
        jac.append(((obj.residuals(z + dz, delay) - obj.residuals(z - dz, delay)) / (2 * eps)).reshape(r0.shape))
    J = np.stack(jac, axis=-1)  # (windows, n_res, p)
    JtJ = np.einsum("wnp,wnq->pq", J, J)
    episodes = np.array([e for e, _ in obj.windows])
    meat = np.zeros_like(JtJ)
    for e in np.unique(episodes):
        g = np.einsum("wnp,wn->p", J[episodes == e], r0[episodes == e])
        meat += np.outer(g, g)
    inv = np.linalg.pinv(JtJ)
    cov = inv @ meat @ inv
    diag = np.diag(JtJ)
    for i in np.flatnonzero(diag <= 1e-8 * max(float(diag.max()), 1e-300)):  # the data do not see it at all
        cov[i, i] = np.inf
    return cov


def _noise(sim: Simulator, values: dict[str, float], delay: int, windows, n: int = 120,
           max_gain: float = 10.0) -> float:
    """Observation-noise std from one-step residuals and the one-step Jacobian w.r.t. the start observation (and
    the one before it, which a setter may read a rate from): per observation dimension ``d``,
    ``s_d^2 = sum r_d^2 / sum (1 + |J_d|^2)``; the estimate is the median of ``s_d`` over the dimensions whose
    noise gain ``mean |J_d|^2`` is at most ``max_gain`` (all dimensions if none is). Stiff dimensions (a joint
    velocity through a contact) are left out: there the linearization overstates how noise propagates."""
    eps_ = sim.data.episodes
    ws = windows[:: max(1, len(windows) // n)]
    start = np.stack([eps_[e].observations[k] for e, k in ws])
    prev = np.stack([eps_[e].observations[max(k - 1, 0)] for e, k in ws])
    target = np.stack([eps_[e].observations[k + 1] for e, k in ws])
    base = sim.predict(values, delay, ws, 1, initial=start, initial_prev=prev)[:, 0]
    r2 = np.sum((base - target) ** 2, axis=0)
    dim = start.shape[1]
    jf2 = np.zeros(dim)
    h = 1e-4
    for i in range(dim):
        d = np.zeros(dim)
        d[i] = h
        for s0, p0 in ((start + d, prev), (start, prev + d)):
            plus = sim.predict(values, delay, ws, 1, initial=s0, initial_prev=p0)[:, 0]
            jf2 += np.sum(((plus - base) / h) ** 2, axis=0)
    per_dim = np.sqrt(r2 / (len(ws) + jf2))
    calm = jf2 / len(ws) <= max_gain
    return float(np.median(per_dim[calm] if calm.any() else per_dim))


def fit(sim: Simulator, data: Trajectories, params: list[str], *, horizon: int = 10, max_windows: int = 300,
        max_delay: int = 4, budget: int = 400, warmup: int = 6, seed: int = 0, source: str = "data") -> Fit:
    """Calibrate ``params`` of ``sim`` to ``data`` (see the module docstring)."""
    t0 = time.perf_counter()
    physics, signals = split_params(params, source)
    rng = np.random.default_rng(seed)
    windows = make_windows(data, horizon, max_windows, rng, source)
    obj = _Objective(sim, physics, windows, horizon, warmup)
    quick = _Objective(sim, physics, windows[:: max(1, len(windows) // 80)], horizon, warmup)
    p = len(physics)
    x0 = np.zeros(p)
    fit_delay = any(parse_name(s)[0] in DELAY_KINDS for s in signals)
    delays = range(max_delay + 1) if fit_delay else [0]
    delay_costs, starts = {}, {}
    for d in delays:
        z, c = _cma(quick, d, x0, 0.5, max(12, budget // 6), seed)
        delay_costs[d], starts[d] = c, z
    best = min(delay_costs, key=delay_costs.get)
    z, cost = _cma(obj, best, starts[best], 0.2, budget, seed)
    cost_nominal = obj.cost(x0, best)
    values = obj.values(z)
    estimates: dict[str, Estimate] = {}
    if p:
        cov = _covariance(obj, z, best)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(invalid="ignore"):
            corr = np.nan_to_num(cov / np.maximum(np.outer(sd, sd), 1e-300))
        for i, name in enumerate(physics):
            rel, nom = obj.rel[i], obj.nominal[i]
            half = min(1.96 * float(sd[i]), 20.0)  # a flat direction: an enormous interval, not an overflow
            if rel:
                lo, hi = values[name] * math.exp(-half), values[name] * math.exp(half)
            else:
                w = half * max(1.0, abs(nom))
                lo, hi = values[name] - w, values[name] + w
            width = (hi - lo) / 2 / max(abs(values[name]), 1e-9)
            partners = [physics[j] for j in range(p) if j != i and abs(corr[i, j]) > 0.95]
            ok = width <= 0.5 and not partners
            note = ("" if ok else "no effect on the logged data" if not math.isfinite(sd[i]) else
                    f"95% interval +-{100 * width:.0f}%" if not partners else
                    f"confounded with {', '.join(partners)} (|corr| > 0.95)")
            estimates[name] = Estimate(name, values[name], lo, hi, ok, note)
    sorted_costs = sorted(delay_costs.values())
    for name in signals:
        kind = parse_name(name)[0]
        if kind == "action_latency":
            ambiguous = len(sorted_costs) > 1 and sorted_costs[1] - sorted_costs[0] < 0.01 * sorted_costs[0]
            estimates[name] = Estimate(name, float(best), float(best), float(best), not ambiguous,
                                       "total loop delay (actuation + sensing)" + (
                                           "; the next delay fits within 1%" if ambiguous else ""))
        elif kind == "obs_latency":
            estimates[name] = Estimate(name, 0.0, None, None, False,
                                       "not separable from action_latency in logs (only their sum is)")
        elif kind == "obs_noise":
            s = _noise(sim, values, best, windows)
            estimates[name] = Estimate(name, s, 0.75 * s, 1.25 * s, True, "from one-step residuals")
        else:
            estimates[name] = Estimate(name, float(KINDS[kind].nominal_absolute or 0.0), None, None, False,
                                       NOT_IDENTIFIED[kind])
    return Fit(estimates, delay_costs, cost_nominal, cost, obj.evals + quick.evals, time.perf_counter() - t0,
               windows, horizon)


def prediction_cost(sim: Simulator, data: Trajectories, values: dict[str, float], delay: int, *, horizon: int = 10,
                    max_windows: int = 300, warmup: int = 6, seed: int = 0) -> float:
    """The cost :func:`fit` minimizes (same windows for the same ``seed``), at ``values`` (physics names of
    ``sim``; others nominal) and ``delay``: compare the fit with other values, e.g. a stand-in's true ones."""
    windows = make_windows(data, horizon, max_windows, np.random.default_rng(seed), "data")
    obj = _Objective(sim, sim.physics, windows, horizon, warmup)
    z = np.array([math.log(values.get(n, nom) / nom) if rel else (values.get(n, nom) - nom) / max(1.0, abs(nom))
                  for n, rel, nom in zip(obj.physics, obj.rel, obj.nominal)])
    return obj.cost(z, delay)
