"""Automatic Domain Randomization (ADR; OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Every ADR-controlled parameter has a current range ``[low, high]`` that starts at its nominal value (or at the
configured training range). At each reset, with probability ``boundary_prob`` one parameter is *pinned* at one
of its boundaries (the others are drawn uniformly from their current ranges). The return of a pinned episode
goes into that boundary's buffer (length ``buffer_size``); when a buffer is full its mean decides: at or above
``threshold_high`` the boundary moves outward by ``delta``, at or below ``threshold_low`` it moves inward, and
the buffer is cleared. Ranges never leave the parameter's valid bounds and never stop containing the anchor
(the nominal value, or the middle of the configured range if the nominal lies outside it).

Three pieces, so that vectorized training works (workers act, one process decides):

* :class:`ADRConfig` — the ``adr:`` section of a randomization spec (pydantic, one-line errors);
* :class:`ADRState` — ranges and boundary buffers; pure logic, JSON round trip (``to_json``/``from_json``);
* :class:`ADRRandomization` — a wrapper over a :class:`~envs.randomization.PhysicsRandomizer` that samples from
  its (local copy of the) ranges and reports a pinned episode's return in ``info["adr"]`` (read at its end);
  the main process calls ``set_adr_ranges`` on every worker after an update
  (:class:`agents.adr_callback.ADRController`).

>>> import gymnasium as gym, envs
>>> env = ADRRandomization(gym.make("simtransfer/InvertedPendulum-v0"),
...                        params=["mass"], threshold_low=100, threshold_high=900)
>>> env.reset(seed=0)[1]["params"]["mass"]
1.0
>>> env.close()
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envs.errors import SimtransferError
from envs.params import Parameter, ParameterSpace

SIDES = ("low", "high")


class ADRConfig(BaseModel):
    """The ``adr:`` section of a randomization spec: which parameters ADR grows, and how."""

    model_config = ConfigDict(extra="forbid")

    params: list[str] | None = Field(
        default=None, description="parameters ADR controls (default: every non-categorical one); others keep "
                                  "their configured distribution")
    init: Literal["nominal", "range"] = Field(
        default="nominal", description="initial ranges: the nominal value (zero width) or the configured range")
    boundary_prob: float = Field(default=0.5, ge=0.0, le=1.0,
                                 description="probability that an episode pins one boundary")
    buffer_size: int = Field(default=10, ge=1, description="returns per boundary before a decision (m)")
    threshold_low: float = Field(description="mean boundary return at or below which the range narrows (t_L)")
    threshold_high: float = Field(description="mean boundary return at or above which the range widens (t_H)")
    delta: float = Field(default=0.1, gt=0.0,
                         description="step as a fraction of the configured range width (log width for loguniform)")
    deltas: dict[str, float] = Field(
        default_factory=dict, description="absolute step per parameter (log units for loguniform), overrides delta")

    @model_validator(mode="after")
    def _thresholds(self) -> ADRConfig:
        if self.threshold_low >= self.threshold_high:
            raise ValueError(f"threshold_low ({self.threshold_low:g}) must be below threshold_high "
                             f"({self.threshold_high:g})")
        for name, d in self.deltas.items():
            if d <= 0:
                raise ValueError(f"deltas.{name} must be > 0, got {d:g}")
        return self


def parse_adr_config(mapping: ADRConfig | dict[str, Any]) -> ADRConfig:
    """Validate an ``adr:`` mapping; mistakes become a one-line :class:`SimtransferError`."""
    if isinstance(mapping, ADRConfig):
        return mapping
    if not isinstance(mapping, dict):
        raise SimtransferError(f"bad adr section: expected a mapping, got {type(mapping).__name__}")
    try:
        return ADRConfig(**mapping)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "adr"
        msg = "required key is missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        raise SimtransferError(f"bad adr section: {loc}: {msg}") from None


@dataclasses.dataclass
class _Dim:
    """One ADR-controlled parameter: its limits and step (log space for loguniform parameters)."""

    param: Parameter
    log: bool
    step: float
    floor: float  # lowest allowed value of `low`
    ceil: float  # highest allowed value of `high`
    anchor: float  # `low` <= anchor <= `high` always


def _dims(space: ParameterSpace, cfg: ADRConfig) -> dict[str, _Dim]:
    names = cfg.params if cfg.params is not None else [p.name for p in space.params if p.dist != "categorical"]
    if not names:
        raise SimtransferError("adr: no parameter to control (the randomization spec has no continuous params)")
    dims: dict[str, _Dim] = {}
    for name in names:
        p = space.by_name.get(name)
        if p is None:
            raise SimtransferError(f"adr: unknown parameter '{name}' (spec has: {', '.join(space.names)})")
        if p.dist == "categorical":
            raise SimtransferError(f"adr: parameter '{name}' is categorical; ADR grows continuous ranges only")
        log = p.dist == "loguniform"
        floor, ceil = p.valid
        if log:
            floor = max(floor, 1e-6)
        anchor = p.nominal if p.low <= p.nominal <= p.high else 0.5 * (p.low + p.high)
        anchor = min(max(anchor, floor), ceil)
        width = (math.log(p.high) - math.log(p.low)) if log else (p.high - p.low)
        step = cfg.deltas.get(name, cfg.delta * width)
        if step <= 0:
            raise SimtransferError(f"adr: parameter '{name}' has an empty configured range; set deltas.{name}")
        dims[name] = _Dim(p, log, float(step), float(floor), float(ceil), float(anchor))
    unknown = set(cfg.deltas) - set(dims)
    if unknown:
        raise SimtransferError(f"adr: deltas name parameters ADR does not control: {', '.join(sorted(unknown))}")
    return dims


class ADRState:
    """Current ranges and boundary buffers of one ADR run (pure logic; no env, no SB3).

    >>> space = ParameterSpace.from_mapping({"mass": {"low": 0.5, "high": 1.5}})
    >>> st = ADRState(space, {"threshold_low": 0, "threshold_high": 1, "buffer_size": 2})
    >>> st.ranges["mass"], st.record("mass", "high", 1.0, 1.0), st.record("mass", "high", 1.0, 1.0)
    ((1.0, 1.0), False, True)
    >>> st.ranges["mass"]
    (1.0, 1.1)
    """

    def __init__(self, space: ParameterSpace, config: ADRConfig | dict[str, Any]) -> None:
        self.space = space
        self.config = parse_adr_config(config)
        self.dims = _dims(space, self.config)
        start = self.config.init == "range"
        self.ranges: dict[str, tuple[float, float]] = {
            n: ((d.param.low, d.param.high) if start else (d.anchor, d.anchor)) for n, d in self.dims.items()}
        self.buffers: dict[str, dict[str, list[float]]] = {n: {"low": [], "high": []} for n in self.dims}
        self.n_updates = 0
        self.n_results = 0

    @property
    def names(self) -> list[str]:
        return list(self.dims)

    # sampling ---------------------------------------------------------------------------------------------
    def draw(self, name: str, rng: np.random.Generator) -> float:
        """A uniform draw (log-uniform for loguniform parameters) from the current range of ``name``."""
        lo, hi = self.ranges[name]
        if hi <= lo:
            return float(lo)
        if self.dims[name].log:
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return float(rng.uniform(lo, hi))

    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], tuple[str, str] | None]:
        """Parameter values for one episode and the pinned ``(name, side)`` (None if nothing is pinned)."""
        values = {}
        for p in self.space.params:
            values[p.name] = self.draw(p.name, rng) if p.name in self.dims else p.sample(rng)
        pinned = None
        if self.config.boundary_prob > 0 and rng.random() < self.config.boundary_prob:
            name = self.names[int(rng.integers(len(self.dims)))]
            side = SIDES[int(rng.integers(2))]
            values[name] = self.boundary(name, side)
            pinned = (name, side)
        return values, pinned

    def boundary(self, name: str, side: str) -> float:
        lo, hi = self.ranges[name]
        return lo if side == "low" else hi

    # updates ----------------------------------------------------------------------------------------------
    def _move(self, name: str, side: str, outward: bool) -> bool:
        d = self.dims[name]
        lo, hi = self.ranges[name]
        sign = (-1.0 if side == "low" else 1.0) * (1.0 if outward else -1.0)
        x = lo if side == "low" else hi
        new = math.exp(math.log(x) + sign * d.step) if d.log else x + sign * d.step
        if side == "low":
            new = min(max(new, d.floor), d.anchor)
            changed, self.ranges[name] = new != lo, (new, hi)
        else:
            new = max(min(new, d.ceil), d.anchor)
            changed, self.ranges[name] = new != hi, (lo, new)
        return changed

    def record(self, name: str, side: str, value: float, episode_return: float) -> bool:
        """Add one pinned episode's return; True if a range changed. Results for a boundary value that is no
        longer current (the range moved while the episode ran) are dropped."""
        if name not in self.dims or side not in SIDES:
            return False
        if not math.isclose(value, self.boundary(name, side), rel_tol=1e-9, abs_tol=1e-12):
            return False
        self.n_results += 1
        buf = self.buffers[name][side]
        buf.append(float(episode_return))
        if len(buf) < self.config.buffer_size:
            return False
        mean = float(np.mean(buf))
        buf.clear()
        if mean >= self.config.threshold_high:
            changed = self._move(name, side, outward=True)
        elif mean <= self.config.threshold_low:
            changed = self._move(name, side, outward=False)
        else:
            return False
        if changed:
            self.n_updates += 1
        return changed

    def entropy(self) -> float:
        """OpenAI's ADR entropy: mean log-width of the ranges (nats per dimension; -inf-safe with a floor)."""
        widths = [max(hi - lo, 1e-12) for lo, hi in self.ranges.values()]
        return float(np.mean(np.log(widths)))

    # persistence ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serializable snapshot (ranges, buffers, counters, config)."""
        return {"config": self.config.model_dump(), "ranges": {k: list(v) for k, v in self.ranges.items()},
                "buffers": {k: {s: list(b) for s, b in v.items()} for k, v in self.buffers.items()},
                "n_updates": self.n_updates, "n_results": self.n_results}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict` (the parameter names must match)."""
        try:
            ranges = {str(k): (float(v[0]), float(v[1])) for k, v in state["ranges"].items()}
            buffers = {str(k): {s: [float(x) for x in v.get(s, [])] for s in SIDES}
                       for k, v in state.get("buffers", {}).items()}
            n_updates, n_results = int(state.get("n_updates", 0)), int(state.get("n_results", 0))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise SimtransferError("adr state is malformed (expected ranges: {name: [low, high]})") from None
        if set(ranges) != set(self.dims):
            raise SimtransferError(f"adr state has parameters {sorted(ranges)}, the run controls {self.names}")
        self.ranges = ranges
        self.buffers = {n: buffers.get(n, {"low": [], "high": []}) for n in self.dims}
        self.n_updates, self.n_results = n_updates, n_results

    def to_json(self) -> str:
        return json.dumps(self.state_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, space: ParameterSpace, text: str) -> ADRState:
        """Rebuild a state (its config included) from :meth:`to_json` output."""
        try:
            data = json.loads(text)
            config = data["config"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SimtransferError("adr state JSON is malformed (expected an object with 'config')") from None
        state = cls(space, config)
        state.load_state_dict(data)
        return state


def find_randomizer(env: gym.Env, what: str) -> Any:
    """The :class:`~envs.randomization.PhysicsRandomizer` under ``env`` (one-line error if there is none)."""
    from envs.randomization import PhysicsRandomizer

    inner: Any = env
    while not isinstance(inner, PhysicsRandomizer):
        if not isinstance(inner, gym.Wrapper):
            raise SimtransferError(f"{what} needs a physics randomizer below it (a simtransfer env or a "
                                   "'randomization' spec)")
        inner = inner.env
    if inner.config.split != "train":
        raise SimtransferError(f"{what} changes the training distribution; the env uses split "
                               f"'{inner.config.split}'")
    from envs.params import Selector

    if not isinstance(inner.selector, Selector):
        raise SimtransferError(f"{what}: the randomizer's ranges are already driven by "
                               f"{type(inner.selector).__name__} (use one of adr / curriculum)")
    return inner


class ADRResult(Mapping):
    """``info["adr"]`` of a pinned episode: ``{"param", "side", "value", "return"}``, read-only.

    Immutable, so ``copy.deepcopy`` (which SB3's ``DummyVecEnv`` applies to every step's infos) returns it
    as it is instead of rebuilding a dict on every step of every pinned episode.
    """

    __slots__ = ("_values",)
    _KEYS = ("param", "side", "value", "return")
    _INDEX = {k: i for i, k in enumerate(_KEYS)}

    def __init__(self, param: str, side: str, value: float, ret: float) -> None:
        object.__setattr__(self, "_values", (param, side, value, ret))

    def __getitem__(self, key: str) -> Any:
        return self._values[self._INDEX[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return 4

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ADRResult is read-only")

    def __deepcopy__(self, memo: dict) -> ADRResult:
        return self

    def __copy__(self) -> ADRResult:
        return self

    def __reduce__(self) -> tuple:
        return ADRResult, self._values

    def __repr__(self) -> str:
        return f"ADRResult({dict(self)})"


class _ADRSelector:
    """Stands in for the randomizer's :class:`~envs.params.Selector`: samples from the ADR ranges."""

    def __init__(self, state: ADRState) -> None:
        self.state = state
        self.pinned: tuple[str, str] | None = None
        self.pinned_value = 0.0

    def select(self, rng: np.random.Generator, *, restart: bool = False) -> tuple[int, dict[str, float]]:
        values, self.pinned = self.state.sample(rng)
        if self.pinned is not None:
            self.pinned_value = values[self.pinned[0]]
        return -1, values


class ADRRandomization(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sample the physics randomizer's parameters from ADR ranges; report pinned episodes in ``info["adr"]``.

    Keyword arguments are the fields of :class:`ADRConfig`. Every step of a pinned episode has
    ``{"param", "side", "value", "return"}`` (return so far) under ``info["adr"]``; the consumer counts it
    when the episode ends (terminated or truncated by any wrapper, e.g. a ``TimeLimit`` outside this one).
    Every reset's info holds the current ranges under ``"adr_ranges"``. ``set_adr_ranges`` installs ranges decided elsewhere (the main process).
    """

    def __init__(self, env: gym.Env, **adr: Any) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, **adr)
        gym.Wrapper.__init__(self, env)
        self.randomizer = find_randomizer(env, "adr")
        if self.randomizer.config.resample_every:
            raise SimtransferError("adr needs resample_every: null (a pinned boundary holds for a whole episode)")
        self.adr_config = parse_adr_config(adr)
        self.adr_param_space: ParameterSpace = self.randomizer.space
        self.state = ADRState(self.randomizer.space, self.adr_config)
        self._selector = _ADRSelector(self.state)
        self.randomizer.selector = self._selector
        self._return = 0.0

    def set_adr_ranges(self, ranges: dict[str, list[float] | tuple[float, float]]) -> None:
        """Install ranges (``{name: (low, high)}``) decided by the main process; used from the next reset."""
        for name, (lo, hi) in ranges.items():
            if name not in self.state.dims:
                raise SimtransferError(f"adr: unknown parameter '{name}' in pushed ranges")
            self.state.ranges[name] = (float(lo), float(hi))

    def get_adr_ranges(self) -> dict[str, tuple[float, float]]:
        return dict(self.state.ranges)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._return = 0.0
        info = dict(info)
        info["adr_ranges"] = dict(self.state.ranges)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        pinned = self._selector.pinned
        if pinned is not None:
            # on every step, not only at the end: a TimeLimit outside this wrapper may end the episode
            result = ADRResult(pinned[0], pinned[1], self._selector.pinned_value, self._return)
            info = {**info, "adr": result}  # (a copy: the inner env may reuse its dict)
        return obs, reward, terminated, truncated, info


def adr_space(env: gym.Env) -> ParameterSpace:
    """The parameter space of the randomizer under ``env`` (for building an :class:`ADRState` elsewhere)."""
    return find_randomizer(env, "adr").space
