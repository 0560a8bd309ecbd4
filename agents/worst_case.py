"""Worst-case physics: search a target's randomizable parameters for the lowest return of a policy.

Every candidate parameter vector is evaluated by pinning the target's physics randomizer to it
(:meth:`~simtransfer.envs.randomizer.PhysicsRandomizer.pin`) and running the same episodes: episode ``i``
resets with ``seed + i`` for every candidate (common random numbers), so two candidates differ only in their
physics and the search compares like with like. The search itself is CMA-ES from the ``cma`` package, in
the unit box that maps linearly (log-uniform parameters: logarithmically) onto the searched ranges;
``method="random"`` draws the same number of vectors uniformly from that box (the reference a search has
to beat).

>>> from simtransfer.agents.worst_case import search_worst_case
>>> res = search_worst_case("runs/pend", "simtransfer/InvertedPendulum-v0", budget=40)   # doctest: +SKIP
>>> res.worst_return, res.worst_params["motor_gain"], res.evaluations                    # doctest: +SKIP
(61.0, 1.98..., 40)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from stable_baselines3.common.env_util import unwrap_wrapper

from simtransfer.agents.evaluation import cvar, run_episodes
from simtransfer.agents.policy_io import LoadedPolicy, check_env_spaces, load_policy
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace
from simtransfer.envs.randomizer import PhysicsRandomizer
from simtransfer.envs.signals import INTEGER_KINDS
from simtransfer.envs.spec import EnvSpec, parse_env_spec
from simtransfer.envs.yaml_io import load_yaml

RANGE_PRESETS = ("train", "interp", "extrap")
Ranges = dict[str, tuple[float, float]]


@dataclass
class WorstCaseResult:
    """The outcome of one worst-case search (``to_dict`` is what ``evaluate --worst-case --json`` prints)."""

    target: str
    method: str
    worst_params: dict[str, float]
    worst_return: float
    worst_returns: list[float]
    evaluations: int
    budget: int
    episodes: int
    seed: int
    search_seed: int
    ranges: dict[str, list[float]]
    trace: list[dict[str, Any]] = field(default_factory=list)  # every evaluation: searched params, return, best
    wall_time_s: float = 0.0

    @property
    def worst_cvar_10(self) -> float:
        return cvar(self.worst_returns)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worst_cvar_10": self.worst_cvar_10}


class NoRandomizablePhysics(SimtransferError):
    """The target has no physics randomizer to pin (e.g. a MuJoCo twin): there is nothing to search."""


def find_physics_randomizer(env: Any, target: str) -> PhysicsRandomizer:
    """The :class:`PhysicsRandomizer` inside ``env`` (one-line error if the target has none)."""
    found = unwrap_wrapper(env, PhysicsRandomizer)
    if found is None:
        raise NoRandomizablePhysics(f"target '{target}' has no randomizable physics (use a simtransfer/<Task>*-v0 id "
                               "or an env spec with a 'randomization' mapping)")
    return found


def _preset_range(p: Any, preset: str) -> tuple[float, float]:
    if preset == "extrap":
        if p.dist == "categorical":
            pool = p.extrap_choices or p.choices
            return float(min(pool)), float(max(pool))
        return float(p.extrap[0]), float(p.extrap[1])
    if p.dist == "categorical":
        return float(min(p.choices)), float(max(p.choices))
    return float(p.low), float(p.high)


def _pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, dict) and set(value) <= {"low", "high"} and len(value) == 2:
        value = [value["low"], value["high"]]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SimtransferError(f"worst-case range of '{name}': expected [low, high], {{low: .., high: ..}} or a "
                               f"number, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise SimtransferError(f"worst-case range of '{name}': low={lo:g} must not be above high={hi:g}")
    return lo, hi


def resolve_ranges(space: ParameterSpace, ranges: str | Path | dict[str, Any] | None = None) -> Ranges:
    """The box to search: a preset split (``train``/``interp``: the training ranges, ``extrap``: the
    extrapolation regions) for every parameter, or a mapping / YAML file ``name: [low, high]`` naming the
    parameters to search (the others stay nominal). Unknown names, ranges outside the valid physics: one line.

    >>> space = ParameterSpace.from_mapping({"mass": {"low": 0.8, "high": 1.2}, "gravity": {"low": 9, "high": 10}})
    >>> resolve_ranges(space, "train")
    {'mass': (0.8, 1.2), 'gravity': (9.0, 10.0)}
    >>> resolve_ranges(space, {"gravity": [5, 12]})
    {'gravity': (5.0, 12.0)}
    """
    if ranges is None:
        ranges = "train"
    if isinstance(ranges, str) and ranges in RANGE_PRESETS:
        return {p.name: _preset_range(p, ranges) for p in space.params}
    if isinstance(ranges, (str, Path)):
        if not Path(ranges).is_file():
            raise SimtransferError(f"worst-case ranges: '{ranges}' is neither a split ({', '.join(RANGE_PRESETS)}) "
                                   "nor a YAML file")
        ranges = load_yaml(ranges)
        if isinstance(ranges, dict) and set(ranges) == {"params"}:
            ranges = ranges["params"]
    if not isinstance(ranges, dict) or not ranges:
        raise SimtransferError("worst-case ranges: expected a non-empty mapping 'name: [low, high]'")
    out: Ranges = {}
    for name, value in ranges.items():
        if name not in space.by_name:
            raise SimtransferError(f"worst-case ranges: unknown parameter '{name}' (the target's parameters: "
                                   f"{', '.join(space.names) or 'none'})")
        lo, hi = _pair(name, value)
        vlo, vhi = space.by_name[name].valid
        if lo < vlo or hi > vhi:
            raise SimtransferError(f"worst-case range of '{name}': [{lo:g}, {hi:g}] is outside the valid physics "
                                   f"[{vlo:g}, {vhi:g}]")
        out[str(name)] = (lo, hi)
    return out


class _Box:
    """The unit cube of the searched (non-degenerate) parameters <-> parameter vectors."""

    def __init__(self, space: ParameterSpace, ranges: Ranges) -> None:
        self.fixed = {n: lo for n, (lo, hi) in ranges.items() if hi <= lo}
        self.names = [n for n, (lo, hi) in ranges.items() if hi > lo]
        self.log = [space.by_name[n].dist == "loguniform" and ranges[n][0] > 0 for n in self.names]
        self.lo = np.array([math.log(ranges[n][0]) if g else ranges[n][0] for n, g in zip(self.names, self.log)])
        self.hi = np.array([math.log(ranges[n][1]) if g else ranges[n][1] for n, g in zip(self.names, self.log)])

    def values(self, u: np.ndarray) -> dict[str, float]:
        x = self.lo + np.clip(np.asarray(u, dtype=np.float64)[:len(self.names)], 0.0, 1.0) * (self.hi - self.lo)
        vals = {n: float(math.exp(v) if g else v) for n, v, g in zip(self.names, x, self.log)}
        # whole control steps: report the value the env applies (envs/signals.py rounds these kinds)
        vals = {n: float(round(v)) if n.partition("@")[0] in INTEGER_KINDS else v for n, v in vals.items()}
        return {**self.fixed, **vals}


class _Objective:
    """Mean return at pinned physics over the same seeded episodes (common random numbers)."""

    def __init__(self, policy: LoadedPolicy, env: Any, randomizer: PhysicsRandomizer, episodes: int,
                 seed: int) -> None:
        self.policy, self.env, self.randomizer = policy, env, randomizer
        self.episodes, self.seed = episodes, seed
        self.trace: list[dict[str, Any]] = []
        self.best: tuple[float, dict[str, float], list[float]] | None = None

    def __call__(self, values: dict[str, float]) -> float:
        self.randomizer.pin(values)
        returns, _ = run_episodes(self.env, self.policy.model, episodes=self.episodes, seed=self.seed,
                                  normalizer=self.policy.normalizer)
        mean = float(np.mean(returns))
        if self.best is None or mean < self.best[0]:
            self.best = (mean, {**self.randomizer.space.nominal(), **values}, [float(r) for r in returns])
        self.trace.append({"evaluation": len(self.trace) + 1, "return": mean, "best_return": self.best[0],
                           "params": dict(values)})
        return mean


def _search_cma(obj: _Objective, box: _Box, budget: int, search_seed: int, sigma0: float) -> None:
    import cma  # well-kept CMA-ES; imported here so loading this module stays cheap

    n = len(box.names)
    start = [0.5] * max(n, 2)  # cma needs >= 2 dimensions: a dummy coordinate the objective ignores
    es = cma.CMAEvolutionStrategy(start, sigma0, {"seed": search_seed + 1, "bounds": [0.0, 1.0], "verbose": -9,
                                                  "tolfun": 0.0, "tolflatfitness": 10**6, "tolx": 0.0})
    while len(obj.trace) < budget:
        xs = es.ask()
        left = budget - len(obj.trace)
        fs = [obj(box.values(x)) for x in xs[:left]]
        if len(fs) < len(xs):
            break  # the budget ends inside a generation: those points count, no update
        es.tell(xs, fs)


def _search_random(obj: _Objective, box: _Box, budget: int, search_seed: int) -> None:
    rng = np.random.default_rng([int(search_seed), 0x3C5])
    for _ in range(budget):
        obj(box.values(rng.random(len(box.names))))


def search_worst_case(run: str | Path | LoadedPolicy, target: str | dict[str, Any] | EnvSpec, *,
                      ranges: str | Path | dict[str, Any] | None = None, budget: int = 100, episodes: int = 5,
                      seed: int = 0, search_seed: int = 0, method: Literal["cma", "random"] = "cma",
                      sigma0: float = 0.3) -> WorstCaseResult:
    """Search ``ranges`` of ``target``'s parameters for the vector with the lowest mean return of ``run``.

    :param run: a run directory or a :class:`~simtransfer.agents.policy_io.LoadedPolicy`
    :param target: env id / spec with a physics randomizer (any split: the search pins it)
    :param ranges: ``train`` (default), ``interp``, ``extrap``, a mapping or a YAML file (:func:`resolve_ranges`)
    :param budget: evaluations (parameter vectors) at most; each runs ``episodes`` episodes
    :param seed: episode ``i`` of every evaluation resets with ``seed + i`` (common random numbers)
    :param search_seed: seed of the optimizer (``cma``) or of the random draws (``random``)
    :param method: ``cma`` (CMA-ES, ``sigma0`` in unit-box coordinates) or ``random`` (uniform draws)
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SimtransferError(f"worst-case budget must be at least 1 evaluation, got {budget}")
    if episodes < 1:
        raise SimtransferError(f"episodes must be at least 1, got {episodes}")
    if method not in ("cma", "random"):
        raise SimtransferError(f"unknown worst-case search method '{method}' (choose cma or random)")
    t0 = time.perf_counter()
    policy = run if isinstance(run, LoadedPolicy) else load_policy(run)
    spec = parse_env_spec(target)
    name = spec.name or spec.id
    env = make_single_env(spec, policy.config.adapters, seed=seed)
    try:
        check_env_spaces(policy, env, spec.id)
        randomizer = find_physics_randomizer(env, name)
        box_ranges = resolve_ranges(randomizer.space, ranges)
        box = _Box(randomizer.space, box_ranges)
        obj = _Objective(policy, env, randomizer, episodes, seed)
        if not box.names:
            obj(box.values(np.zeros(0)))
        elif method == "cma":
            _search_cma(obj, box, budget, search_seed, sigma0)
        else:
            _search_random(obj, box, budget, search_seed)
    finally:
        env.close()
    assert obj.best is not None
    worst, params, returns = obj.best
    return WorstCaseResult(target=name, method=method, worst_params=params, worst_return=worst,
                           worst_returns=returns, evaluations=len(obj.trace), budget=budget, episodes=episodes,
                           seed=seed, search_seed=search_seed,
                           ranges={k: [float(lo), float(hi)] for k, (lo, hi) in box_ranges.items()},
                           trace=obj.trace, wall_time_s=time.perf_counter() - t0)
