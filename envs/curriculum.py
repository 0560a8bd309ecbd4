"""Scheduled randomization curricula: the width of every training range as a function of timesteps.

A fraction ``f`` in [0, 1] maps each configured range ``[low, high]`` to
``[a + f * (low - a), a + f * (high - a)]`` around the parameter's anchor ``a`` (its nominal value, or the
middle of the range if the nominal lies outside it): ``f = 0`` is nominal physics, ``f = 1`` the configured
distribution (log-space interpolation for loguniform parameters; a normal's std scales with ``f``).

* :class:`CurriculumSchedule` — ``linear`` (from ``start`` to ``end`` timesteps, ``initial`` → ``final``) or
  ``step`` (``milestones``: ``[[timestep, fraction], ...]``);
* :class:`CurriculumRandomization` — a wrapper over the env's
  :class:`~simtransfer.envs.randomization.PhysicsRandomizer` that samples from the scaled ranges; the main process calls
  ``set_curriculum_fraction`` (:class:`simtransfer.agents.adr_callback.CurriculumCallback` does, every step it changes).

>>> CurriculumSchedule(kind="linear", start=0, end=1000).fraction(250)
0.25
>>> CurriculumSchedule(kind="step", milestones=[[0, 0.2], [500, 0.6], [900, 1.0]]).fraction(600)
0.6
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simtransfer.envs.adr import find_randomizer
from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.params import Parameter


class CurriculumSchedule(BaseModel):
    """Range-width fraction as a function of the timestep count."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["linear", "step"] = Field(default="linear", description="linear ramp or piecewise-constant steps")
    start: int = Field(default=0, ge=0, description="linear: timestep where the ramp starts")
    end: int = Field(default=100_000, ge=1, description="linear: timestep where the ramp reaches 'final'")
    initial: float = Field(default=0.0, ge=0.0, le=1.0, description="linear: fraction before 'start'")
    final: float = Field(default=1.0, ge=0.0, le=1.0, description="linear: fraction from 'end' on")
    milestones: list[tuple[int, float]] = Field(
        default_factory=list, description="step: [[timestep, fraction], ...]; before the first: 'initial'")

    @model_validator(mode="after")
    def _check(self) -> CurriculumSchedule:
        if self.kind == "linear" and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if self.kind == "step":
            if not self.milestones:
                raise ValueError("a step schedule needs milestones: [[timestep, fraction], ...]")
            steps = [m[0] for m in self.milestones]
            if steps != sorted(steps) or any(not 0.0 <= f <= 1.0 for _, f in self.milestones):
                raise ValueError("milestones must be sorted by timestep with fractions in [0, 1]")
        return self

    def fraction(self, timesteps: int) -> float:
        """The range-width fraction at ``timesteps``."""
        if self.kind == "linear":
            t = min(max((timesteps - self.start) / (self.end - self.start), 0.0), 1.0)
            return float(self.initial + t * (self.final - self.initial))
        f = self.initial
        for step, frac in self.milestones:
            if timesteps >= step:
                f = frac
        return float(f)


def parse_schedule(mapping: CurriculumSchedule | dict[str, Any]) -> CurriculumSchedule:
    """Validate a curriculum mapping into a schedule (one-line :class:`SimtransferError` on mistakes)."""
    if isinstance(mapping, CurriculumSchedule):
        return mapping
    try:
        return CurriculumSchedule(**(mapping or {}))
    except (ValidationError, TypeError) as exc:
        if isinstance(exc, TypeError):
            raise SimtransferError(f"bad curriculum: {exc}") from None
        raise validation_error(exc, "bad curriculum") from None


def scale_parameter(p: Parameter, fraction: float) -> Parameter:
    """``p`` with its training range shrunk toward its anchor by ``fraction`` (1: unchanged, 0: a point)."""
    if fraction >= 1.0:
        return p
    a = p.nominal if p.low <= p.nominal <= p.high else 0.5 * (p.low + p.high)
    if p.dist == "categorical":
        return dataclasses.replace(p, choices=p.choices if fraction > 0 else (a,))
    if p.dist == "loguniform":
        la = math.log(a)
        lo, hi = math.exp(la + fraction * (math.log(p.low) - la)), math.exp(la + fraction * (math.log(p.high) - la))
    else:
        lo, hi = a + fraction * (p.low - a), a + fraction * (p.high - a)
    std = p.std * fraction if p.std is not None else None
    return dataclasses.replace(p, low=lo, high=hi, std=std)


class _ScaledSelector:
    """Stands in for the randomizer's :class:`~simtransfer.envs.params.Selector`: samples from the scaled ranges."""

    def __init__(self, params: list[Parameter]) -> None:
        self.base = list(params)
        self.params = list(params)
        self.fraction = 1.0

    def set_fraction(self, fraction: float) -> None:
        self.fraction = float(fraction)
        self.params = [scale_parameter(p, self.fraction) for p in self.base]

    def select(self, rng: np.random.Generator, *, restart: bool = False) -> tuple[int, dict[str, float]]:
        out = {}
        for p in self.params:
            if p.dist != "categorical" and p.high <= p.low:
                out[p.name] = float(p.low)
            elif p.dist == "normal" and not p.std:
                out[p.name] = float(np.clip(p.mean if p.mean is not None else p.nominal, p.low, p.high))
            else:
                out[p.name] = p.sample(rng)
        return -1, out


class CurriculumRandomization(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sample the randomizer's parameters from ranges scaled by the current curriculum fraction.

    Keyword arguments are the fields of :class:`CurriculumSchedule`; the fraction starts at
    ``schedule.fraction(0)`` and changes when ``set_curriculum_fraction`` is called (by the callback).

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = CurriculumRandomization(gym.make("simtransfer/InvertedPendulum-v0"), kind="linear", end=1000)
    >>> env.reset(seed=0)[1]["params"]["mass"]
    1.0
    >>> env.set_curriculum_fraction(1.0)
    >>> 0.7 <= env.reset(seed=0)[1]["params"]["mass"] <= 1.3
    True
    """

    def __init__(self, env: gym.Env, **schedule: Any) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, **schedule)
        gym.Wrapper.__init__(self, env)
        self.randomizer = find_randomizer(env, "curriculum")
        self.curriculum_schedule = parse_schedule(schedule)
        self._selector = _ScaledSelector(self.randomizer.space.params)
        self._selector.set_fraction(self.curriculum_schedule.fraction(0))
        self.randomizer.selector = self._selector

    @property
    def curriculum_fraction(self) -> float:
        return self._selector.fraction

    def set_curriculum_fraction(self, fraction: float) -> None:
        """Use ranges scaled by ``fraction`` (in [0, 1]) from the next (re)sample on."""
        if not 0.0 <= float(fraction) <= 1.0:
            raise SimtransferError(f"curriculum fraction must be in [0, 1], got {fraction}")
        self._selector.set_fraction(fraction)

    def current_ranges(self) -> dict[str, tuple[float, float]]:
        """``{name: (low, high)}`` of the scaled training ranges."""
        return {p.name: (p.low, p.high) for p in self._selector.params}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        info["curriculum_fraction"] = self._selector.fraction
        return obs, info
