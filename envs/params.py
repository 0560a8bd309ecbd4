"""Physical parameter spaces, training samplers, episode selectors and held-out splits.

Three roles are kept apart (CARL's design):

* the **space** (:class:`ParameterSpace`): named parameters, nominal values, valid bounds, training ranges;
* the **sampler** (:meth:`ParameterSpace.sample`): the training distribution;
* the **selector** (:class:`Selector`): which parameter vector an episode gets (a fresh training sample, or
  one of a fixed, seeded, finite set of held-out targets).

A parameter is named ``<kind>`` or ``<kind>@<label>``; the kind says what it changes (see :data:`KINDS`).
Relative parameters are scales of the simulator's native value (nominal 1.0); absolute ones are values.

>>> space = ParameterSpace.from_mapping({"mass": {"low": 0.8, "high": 1.2}, "gravity": {"low": 9, "high": 10.5}})
>>> v = space.sample(np.random.default_rng(0))
>>> 0.8 <= v["mass"] <= 1.2 and 9.0 <= v["gravity"] <= 10.5
True
>>> extrap = make_targets(space, "extrap", seed=0, n=4)
>>> all(not space.in_train_range(t) for t in extrap)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simtransfer.envs.errors import SimtransferError, validation_error

Split = Literal["train", "interp", "extrap", "nominal"]
SPLITS: tuple[str, ...] = ("train", "interp", "extrap", "nominal")


@dataclass(frozen=True)
class Kind:
    """What a parameter kind changes, where, and which values are physically valid."""

    description: str
    # game: a Box2D game's own setting; signal: an actuator/sensor effect applied by envs.signals.SignalModel
    target: Literal["link", "joint", "world", "motor", "game", "signal"]
    relative_default: bool
    valid_relative: tuple[float, float] | None  # None: relative mode not allowed
    valid_absolute: tuple[float, float] | None  # None: absolute mode not allowed
    nominal_absolute: float | None  # native value the Bullet tasks use (None: must be given)
    unit: str


KINDS: dict[str, Kind] = {
    "mass": Kind("link mass (inertia scaled alike)", "link", True, (0.01, 100.0), (1e-4, 1e4), None, "kg"),
    "lateral_friction": Kind("lateral (sliding) friction coefficient", "link", True, (0.0, 20.0),
                             (0.0, 10.0), None, ""),
    "spinning_friction": Kind("torsional friction around the contact normal", "link", False, (0.0, 100.0),
                              (0.0, 1.0), 0.0, ""),
    "rolling_friction": Kind("rolling friction", "link", False, (0.0, 100.0), (0.0, 1.0), 0.0, ""),
    "restitution": Kind("restitution (bounciness)", "link", False, (0.0, 10.0), (0.0, 1.0), 0.0, ""),
    "joint_damping": Kind("viscous damping of the link's parent joint", "joint", False, (0.0, 100.0),
                          (0.0, 100.0), 0.0, "N*m*s/rad"),
    "gravity": Kind("gravity magnitude (acts along -z)", "world", False, (0.0, 5.0), (0.0, 50.0), 9.8, "m/s^2"),
    "motor_gain": Kind("motor strength: torque multiplier at every actuated joint", "motor", True,
                       (0.0, 10.0), None, None, "x"),
    # actuators and sensors (envs/signals.py): drawn per episode like the physics; latencies and the control
    # period are whole control steps (a drawn value is rounded)
    "action_latency": Kind("actuation delay in control steps", "signal", False, None, (0.0, 20.0), 0.0, "steps"),
    "obs_latency": Kind("sensor delay in control steps", "signal", False, None, (0.0, 20.0), 0.0, "steps"),
    "action_noise": Kind("Gaussian noise on every action (std, action units)", "signal", False, None,
                         (0.0, 10.0), 0.0, "action"),
    "obs_noise": Kind("Gaussian noise on every observation (std, observation units)", "signal", False, None,
                      (0.0, 10.0), 0.0, "obs"),
    "obs_bias": Kind("sensor offset drawn once per episode from N(0, value) per dimension", "signal", False,
                     None, (0.0, 10.0), 0.0, "obs"),
    "control_period": Kind("control period in simulator control steps (action repeat)", "signal", False, None,
                           (1.0, 20.0), 1.0, "steps"),
    "wind_power": Kind("LunarLander wind strength (0: no wind)", "game", False, None, (0.0, 40.0), 0.0, ""),
    "turbulence_power": Kind("LunarLander rotational turbulence (with wind)", "game", False, None, (0.0, 5.0),
                             0.0, ""),
}


class ParamSpec(BaseModel):
    """One parameter of a randomization spec (YAML mapping ``name: {dist: ..., low: ..., high: ...}``)."""

    model_config = ConfigDict(extra="forbid")

    dist: Literal["uniform", "loguniform", "normal", "categorical"] = Field(
        default="uniform", description="training distribution")
    low: float | None = Field(default=None, description="lower end of the training range (normal: truncation)")
    high: float | None = Field(default=None, description="upper end of the training range (normal: truncation)")
    mean: float | None = Field(default=None, description="normal: mean")
    std: float | None = Field(default=None, description="normal: standard deviation (> 0)")
    choices: list[float] | None = Field(default=None, description="categorical: the values")
    relative: bool | None = Field(default=None, description="scale of the native value (default per kind)")
    nominal: float | None = Field(default=None, description="nominal value (relative: 1.0; absolute: per kind)")
    links: list[str] | None = Field(
        default=None, description="glob patterns of link (or joint) names; default: every link of the robot")
    extrap_low: float | None = Field(default=None, description="lower end of the extrapolation region")
    extrap_high: float | None = Field(default=None, description="upper end of the extrapolation region")
    extrap_choices: list[float] | None = Field(default=None, description="categorical: extrapolation values")
    valid_low: float | None = Field(default=None, description="narrow the kind's valid bounds (e.g. a game's limits)")
    valid_high: float | None = Field(default=None, description="narrow the kind's valid bounds from above")


@dataclass(frozen=True)
class Parameter:
    """A validated parameter: its training range, valid bounds and extrapolation region."""

    name: str
    kind: str
    dist: str
    relative: bool
    nominal: float
    low: float  # training range
    high: float
    valid: tuple[float, float]
    extrap: tuple[float, float]
    links: tuple[str, ...] | None
    mean: float | None = None
    std: float | None = None
    choices: tuple[float, ...] | None = None
    extrap_choices: tuple[float, ...] | None = None

    def sample(self, rng: np.random.Generator) -> float:
        """One draw from the training distribution."""
        if self.dist == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.dist == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.dist == "normal":
            assert self.mean is not None and self.std is not None
            for _ in range(64):  # rejection sampling of the truncated normal
                x = float(rng.normal(self.mean, self.std))
                if self.low <= x <= self.high:
                    return x
            return float(np.clip(self.mean, self.low, self.high))
        assert self.choices is not None
        return float(self.choices[int(rng.integers(len(self.choices)))])

    def extrap_sides(self) -> list[tuple[float, float]]:
        """The (non-empty) intervals outside the training range, inside the valid bounds."""
        if self.dist == "categorical":
            return []
        log = self.dist == "loguniform"
        width = (math.log(self.high) - math.log(self.low)) if log else (self.high - self.low)
        gap = 0.02 * width
        sides = []
        lo_edge = math.exp(math.log(self.low) - gap) if log else self.low - gap
        hi_edge = math.exp(math.log(self.high) + gap) if log else self.high + gap
        if self.extrap[0] < lo_edge:
            sides.append((self.extrap[0], lo_edge))
        if hi_edge < self.extrap[1]:
            sides.append((hi_edge, self.extrap[1]))
        return sides

    def sample_extrap(self, rng: np.random.Generator) -> float:
        """One draw outside the training range (inside the valid bounds); a training draw if there is no room."""
        if self.dist == "categorical":
            pool = self.extrap_choices or self.choices
            assert pool is not None
            return float(pool[int(rng.integers(len(pool)))])
        sides = self.extrap_sides()
        if not sides:
            return self.sample(rng)
        log = self.dist == "loguniform" and sides[0][0] > 0
        widths = np.array([(math.log(b) - math.log(a)) if log else (b - a) for a, b in sides])
        a, b = sides[int(rng.choice(len(sides), p=widths / widths.sum()))]
        return float(math.exp(rng.uniform(math.log(a), math.log(b)))) if log else float(rng.uniform(a, b))

    def in_train_range(self, value: float) -> bool:
        if self.choices is not None:
            return value in self.choices
        return self.low <= value <= self.high


def parse_name(name: str) -> tuple[str, str | None]:
    """``"mass@foot"`` -> ``("mass", "foot")``; unknown kinds raise a one-line error."""
    kind, _, label = name.partition("@")
    if kind not in KINDS:
        raise SimtransferError(f"unknown parameter '{name}' (known kinds: {', '.join(KINDS)}; "
                               f"per-link form: kind@label)")
    return kind, (label or None)


def build_parameter(name: str, spec: ParamSpec | dict[str, Any]) -> Parameter:
    """Validate one parameter spec against its kind's valid bounds."""
    if not isinstance(spec, ParamSpec):
        try:
            spec = ParamSpec(**(spec or {}))
        except ValidationError as exc:
            raise validation_error(exc, f"parameter '{name}'") from None
    kind_name, label = parse_name(name)
    kind = KINDS[kind_name]
    relative = kind.relative_default if spec.relative is None else spec.relative
    valid = kind.valid_relative if relative else kind.valid_absolute
    mode = "relative" if relative else "absolute"
    if valid is None:
        raise SimtransferError(f"parameter '{name}': {kind_name} cannot be {mode}")
    narrowed = (valid[0] if spec.valid_low is None else spec.valid_low,
                valid[1] if spec.valid_high is None else spec.valid_high)
    if not valid[0] <= narrowed[0] < narrowed[1] <= valid[1]:
        raise SimtransferError(f"parameter '{name}': valid_low/valid_high [{narrowed[0]:g}, {narrowed[1]:g}] must "
                               f"be an interval inside the {mode} {kind_name} bounds [{valid[0]:g}, {valid[1]:g}]")
    valid = narrowed
    nominal = spec.nominal if spec.nominal is not None else (1.0 if relative else kind.nominal_absolute)
    if nominal is None:
        raise SimtransferError(f"parameter '{name}': absolute {kind_name} needs an explicit 'nominal'")

    def check(field: str, x: float | None) -> None:
        if x is not None and not (valid[0] <= x <= valid[1]):
            raise SimtransferError(f"parameter '{name}': {field}={x:g} is outside the valid bounds "
                                   f"[{valid[0]:g}, {valid[1]:g}] of a {mode} {kind_name}")

    choices = tuple(spec.choices) if spec.choices else None
    if spec.dist == "categorical":
        if not choices:
            raise SimtransferError(f"parameter '{name}': categorical needs a non-empty 'choices' list")
        low, high = min(choices), max(choices)
        for c in choices + tuple(spec.extrap_choices or ()):
            check("choice", c)
    elif spec.dist == "normal":
        if spec.mean is None or spec.std is None or spec.std <= 0:
            raise SimtransferError(f"parameter '{name}': normal needs 'mean' and 'std' > 0")
        low = spec.low if spec.low is not None else max(valid[0], spec.mean - 2 * spec.std)
        high = spec.high if spec.high is not None else min(valid[1], spec.mean + 2 * spec.std)
        check("mean", spec.mean)
    else:
        if spec.low is None or spec.high is None:
            raise SimtransferError(f"parameter '{name}': {spec.dist} needs 'low' and 'high'")
        low, high = spec.low, spec.high
        if spec.dist == "loguniform" and low <= 0:
            raise SimtransferError(f"parameter '{name}': loguniform needs low > 0, got {low:g}")
    if low > high or (spec.dist in ("uniform", "loguniform", "normal") and low == high):
        raise SimtransferError(f"parameter '{name}': low={low:g} must be below high={high:g}")
    check("low", low)
    check("high", high)
    check("nominal", nominal)
    if spec.dist == "loguniform":
        ratio = high / low
        ext = (max(valid[0], low / ratio), min(valid[1], high * ratio))
    else:
        ext = (max(valid[0], low - (high - low)), min(valid[1], high + (high - low)))
    ext = (spec.extrap_low if spec.extrap_low is not None else ext[0],
           spec.extrap_high if spec.extrap_high is not None else ext[1])
    check("extrap_low", ext[0])
    check("extrap_high", ext[1])
    if ext[0] > low or ext[1] < high:
        raise SimtransferError(f"parameter '{name}': the extrapolation region [{ext[0]:g}, {ext[1]:g}] "
                               f"must contain the training range [{low:g}, {high:g}]")
    links = tuple(spec.links) if spec.links is not None else ((label,) if label else None)
    if kind.target == "world" and links is not None:
        raise SimtransferError(f"parameter '{name}': {kind_name} is global, it takes no link selection")
    return Parameter(name=name, kind=kind_name, dist=spec.dist, relative=relative, nominal=float(nominal),
                     low=float(low), high=float(high), valid=valid, extrap=(float(ext[0]), float(ext[1])),
                     links=links, mean=spec.mean, std=spec.std, choices=choices,
                     extrap_choices=tuple(spec.extrap_choices) if spec.extrap_choices else None)


class ParameterSpace:
    """An ordered set of parameters (the space) with its training distribution (the sampler)."""

    def __init__(self, params: list[Parameter]) -> None:
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise SimtransferError(f"duplicate parameter names in {names}")
        self.params = list(params)
        self.by_name = {p.name: p for p in params}
        # uniform and log-uniform parameters are drawn with one vectorized call (cheap resets)
        self._vec = [(p.name, math.log(p.low) if p.dist == "loguniform" else p.low,
                      (math.log(p.high) - math.log(p.low)) if p.dist == "loguniform" else p.high - p.low,
                      p.dist == "loguniform") for p in params if p.dist in ("uniform", "loguniform")]
        self._other = [p for p in params if p.dist not in ("uniform", "loguniform")]

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> ParameterSpace:
        return cls([build_parameter(str(k), v) for k, v in (mapping or {}).items()])

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def nominal(self) -> dict[str, float]:
        return {p.name: p.nominal for p in self.params}

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """The sampler: one vector from the training distribution (in the space's parameter order)."""
        u = rng.random(len(self._vec)).tolist()
        drawn = {name: (math.exp(lo + x * w) if log else lo + x * w) for (name, lo, w, log), x in zip(self._vec, u)}
        if not self._other:
            return drawn if len(drawn) == len(self.params) else {p.name: drawn[p.name] for p in self.params}
        for p in self._other:
            drawn[p.name] = p.sample(rng)
        return {p.name: drawn[p.name] for p in self.params}

    def sample_block(self, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
        """``n`` training vectors drawn at once (vectorized; what the train selector uses per reset)."""
        k = len(self._vec)
        u = rng.random((n, k))
        lo = np.array([v[1] for v in self._vec])
        width = np.array([v[2] for v in self._vec])
        x = lo + u * width
        log = np.array([v[3] for v in self._vec], dtype=bool)
        if log.any():
            x[:, log] = np.exp(x[:, log])
        names = [v[0] for v in self._vec]
        rows = [dict(zip(names, row)) for row in x.tolist()]
        if self._other or len(names) != len(self.params):
            order = self.names
            for row in rows:
                for p in self._other:
                    row[p.name] = p.sample(rng)
            rows = [{name: row[name] for name in order} for row in rows]
        return rows

    def in_train_range(self, values: dict[str, float]) -> bool:
        return all(p.in_train_range(values[p.name]) for p in self.params)

    def in_valid_bounds(self, values: dict[str, float]) -> bool:
        return all(p.valid[0] <= values[p.name] <= p.valid[1] for p in self.params)

    def describe(self) -> list[dict[str, Any]]:
        """Rows for listings: name, kind, mode, nominal, training range, valid bounds, links."""
        return [{"name": p.name, "kind": p.kind, "dist": p.dist,
                 "mode": "relative" if p.relative else "absolute", "nominal": p.nominal,
                 "low": p.low, "high": p.high, "valid_low": p.valid[0], "valid_high": p.valid[1],
                 "extrap_low": p.extrap[0], "extrap_high": p.extrap[1],
                 "links": list(p.links) if p.links else None, "unit": KINDS[p.kind].unit} for p in self.params]


_SPLIT_STREAM = {"interp": 1, "extrap": 2}


def make_targets(space: ParameterSpace, split: str, seed: int, n: int) -> list[dict[str, float]]:
    """The fixed, seeded, finite set of parameter vectors of a held-out split.

    ``interp``: fresh draws from the training distribution (inside the training ranges, never the training
    stream). ``extrap``: every parameter that has room is drawn outside its training range, inside its
    extrapolation region (valid bounds). ``nominal``: the single nominal vector.
    """
    if split == "nominal":
        return [space.nominal()]
    if split not in _SPLIT_STREAM:
        raise SimtransferError(f"split '{split}' has no target set (held-out splits: interp, extrap, nominal)")
    if n < 1:
        raise SimtransferError(f"n_targets must be at least 1, got {n}")
    rng = np.random.default_rng([int(seed), _SPLIT_STREAM[split], 0x51D])
    # actuator/sensor parameters draw from their own stream: adding them leaves the physics of a set unchanged
    physics = ParameterSpace([p for p in space.params if KINDS[p.kind].target != "signal"])
    signals = [p for p in space.params if KINDS[p.kind].target == "signal"]
    srng = np.random.default_rng([int(seed), _SPLIT_STREAM[split], 0x5167])
    if split == "interp":
        rows = [physics.sample(rng) for _ in range(n)]
        extra = [{p.name: p.sample(srng) for p in signals} for _ in range(n)]
    else:
        if space.params and not any(p.extrap_sides() or p.extrap_choices for p in space.params):
            raise SimtransferError("no parameter has room for extrapolation: every training range fills its "
                                   "valid bounds (narrow a range or set extrap_low/extrap_high)")
        rows = [{p.name: p.sample_extrap(rng) for p in physics.params} for _ in range(n)]
        extra = [{p.name: p.sample_extrap(srng) for p in signals} for _ in range(n)]
    return [{p.name: {**row, **more}[p.name] for p in space.params} for row, more in zip(rows, extra)]


class Selector:
    """Which parameter vector an episode gets.

    ``train``: a fresh sample from the sampler; held-out splits: one of the fixed targets, cycling in order
    (restarting at target 0 when ``reset`` is seeded) or drawn at random. ``context_id`` is -1 for training
    samples and the target index otherwise.
    """

    def __init__(self, space: ParameterSpace, split: str = "train", *, split_seed: int = 0, n_targets: int = 10,
                 mode: Literal["cycle", "random"] = "cycle") -> None:
        if split not in SPLITS:
            raise SimtransferError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
        self.space, self.split, self.mode = space, split, mode
        self.targets = [] if split == "train" else make_targets(space, split, split_seed, n_targets)
        self._next = 0
        self._block: list[dict[str, float]] = []
        self._block_size = 1

    def select(self, rng: np.random.Generator, *, restart: bool = False) -> tuple[int, dict[str, float]]:
        """The next episode's (context id, parameter vector); ``restart`` after the caller reseeded ``rng``."""
        if restart:
            self._next = 0
            self._block = []
            self._block_size = 1
        if self.split == "train":
            if not self._block:  # vectorized draws in blocks of 1, 2, 4, ... 32 after each reseed
                self._block = self.space.sample_block(rng, self._block_size)
                self._block.reverse()
                self._block_size = min(32, 2 * self._block_size)
            return -1, self._block.pop()
        if self.mode == "random":
            i = int(rng.integers(len(self.targets)))
        else:
            i = self._next % len(self.targets)
            self._next += 1
        return i, dict(self.targets[i])
