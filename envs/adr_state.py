"""ADR's range logic (pure: no env, no SB3): the ``adr:`` config and the shared :class:`ADRState`.

See :mod:`simtransfer.envs.adr` for the algorithm, the env wrapper and an example; this module is what the main process
(:class:`simtransfer.agents.adr_callback.ADRController`) and every worker share.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.params import Parameter, ParameterSpace

SIDES = ("low", "high")
REFERENCE = "none"  # the "side" of a reference episode at the anchor (relative thresholds)


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
    threshold_low: float = Field(description="mean boundary return at or below which the range narrows (t_L; "
                                             "relative: a fraction of the reference)")
    threshold_high: float = Field(description="mean boundary return at or above which the range widens (t_H; "
                                              "relative: a fraction of the reference)")
    delta: float = Field(default=0.1, gt=0.0,
                         description="step as a fraction of the configured range width (log width for loguniform)")
    deltas: dict[str, float] = Field(
        default_factory=dict, description="absolute step per parameter (log units for loguniform), overrides delta")
    thresholds: Literal["absolute", "relative"] = Field(
        default="absolute", description="absolute: thresholds are returns; relative: fractions of the reference "
                                        "(recent anchor episodes' mean return above baseline)")
    reference_prob: float = Field(default=0.2, gt=0.0, le=1.0,
                                  description="relative: probability that an episode runs every ADR parameter "
                                              "at its anchor (nominal) to measure the reference")
    reference_size: int = Field(default=20, ge=1, description="relative: anchor episodes in the reference")
    baseline: float = Field(default=0.0, description="relative: the return that counts as 0 (e.g. random policy)")
    min_reference: float | None = Field(
        default=None, description="relative: no decision until the reference reaches this return (the policy "
                                  "has learned the nominal task; before that any boundary keeps a fraction of "
                                  "a poor return)")

    @model_validator(mode="after")
    def _thresholds(self) -> ADRConfig:
        if self.threshold_low >= self.threshold_high:
            raise ValueError(f"threshold_low ({self.threshold_low:g}) must be below threshold_high "
                             f"({self.threshold_high:g})")
        if self.thresholds == "relative" and self.boundary_prob + self.reference_prob > 1.0:
            raise ValueError(f"relative thresholds: boundary_prob + reference_prob must be <= 1, got "
                             f"{self.boundary_prob:g} + {self.reference_prob:g}")
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
        raise validation_error(exc, "bad adr section") from None


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
        self.reference: list[float] = []  # returns of recent anchor episodes (relative thresholds)
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
        """Parameter values for one episode and the pinned ``(name, side)`` (None if nothing is pinned;
        ``("", "none")`` for a reference episode at the anchor, relative thresholds only)."""
        values = {}
        for p in self.space.params:
            values[p.name] = self.draw(p.name, rng) if p.name in self.dims else p.sample(rng)
        pinned = None
        cfg = self.config
        if cfg.thresholds == "relative":  # one draw decides: boundary, anchor (reference) or neither
            u = rng.random()
            pin_boundary = u < cfg.boundary_prob
            if not pin_boundary and u < cfg.boundary_prob + cfg.reference_prob:
                values.update({n: d.anchor for n, d in self.dims.items()})
                return values, ("", REFERENCE)
        else:
            pin_boundary = cfg.boundary_prob > 0 and rng.random() < cfg.boundary_prob
        if pin_boundary:
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

    def reference_return(self) -> float | None:
        """Relative thresholds: the mean return of the last ``reference_size`` anchor episodes (None until
        that many ended)."""
        if len(self.reference) < self.config.reference_size:
            return None
        return float(np.mean(self.reference))

    def thresholds(self) -> tuple[float, float] | None:
        """The current ``(low, high)`` thresholds as returns (None: relative, and no usable reference yet)."""
        cfg = self.config
        if cfg.thresholds == "absolute":
            return cfg.threshold_low, cfg.threshold_high
        ref = self.reference_return()
        if ref is None or ref <= cfg.baseline or (cfg.min_reference is not None and ref < cfg.min_reference):
            return None
        span = ref - cfg.baseline
        return cfg.baseline + cfg.threshold_low * span, cfg.baseline + cfg.threshold_high * span

    def record(self, name: str, side: str, value: float, episode_return: float) -> bool:
        """Add one pinned episode's return; True if a range changed. Results for a boundary value that is no
        longer current (the range moved while the episode ran) are dropped. ``side="none"`` records an
        anchor episode (the reference of relative thresholds)."""
        if side == REFERENCE:
            self.reference = [*self.reference, float(episode_return)][-self.config.reference_size:]
            return False
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
        limits = self.thresholds()
        if limits is None:
            return False
        if mean >= limits[1]:
            changed = self._move(name, side, outward=True)
        elif mean <= limits[0]:
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
                "reference": list(self.reference), "n_updates": self.n_updates, "n_results": self.n_results}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict` (the parameter names must match)."""
        try:
            ranges = {str(k): (float(v[0]), float(v[1])) for k, v in state["ranges"].items()}
            buffers = {str(k): {s: [float(x) for x in v.get(s, [])] for s in SIDES}
                       for k, v in state.get("buffers", {}).items()}
            n_updates, n_results = int(state.get("n_updates", 0)), int(state.get("n_results", 0))
            reference = [float(x) for x in state.get("reference", [])]
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise SimtransferError("adr state is malformed (expected ranges: {name: [low, high]})") from None
        if set(ranges) != set(self.dims):
            raise SimtransferError(f"adr state has parameters {sorted(ranges)}, the run controls {self.names}")
        self.ranges = ranges
        self.buffers = {n: buffers.get(n, {"low": [], "high": []}) for n in self.dims}
        self.reference = reference[-self.config.reference_size:]
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
