"""The generic physics randomizer (PyBullet envs; Box2D's LunarLander) and the spec that configures it.

:func:`simtransfer.envs.randomization.apply_randomization` stacks it with ADR, a curriculum and a context
observation; the ADR and curriculum wrappers find it below them (:func:`simtransfer.envs.adr.find_randomizer`).

>>> spec = parse_randomization({"params": {"mass": {"low": 0.5, "high": 2.0}}, "split": "extrap"})
>>> spec.split, sorted(spec.params)
('extrap', ['mass'])
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simtransfer.envs.bullet import BulletBinding, bullet_client
from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.games import LunarLanderBinding, is_lunar_lander
from simtransfer.envs.params import ParameterSpace, ParamSpec, Selector, parse_name


class RandomizationSpec(BaseModel):
    """What to randomize, from which split, and how often."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, ParamSpec] = Field(default_factory=dict, description="parameter name -> distribution")
    resample_every: int | None = Field(default=None, ge=1, description="also resample every N steps")
    split: Literal["train", "interp", "extrap", "nominal"] = Field(default="train", description="which split")
    split_seed: int = Field(default=0, description="seed of the held-out target sets")
    n_targets: int = Field(default=10, ge=1, description="number of vectors in a held-out target set")
    selector: Literal["cycle", "random"] = Field(default="cycle", description="how targets are chosen")
    context_in_obs: bool = Field(default=False, description="append the parameters to the observation")
    adr: dict[str, Any] | None = Field(
        default=None, description="automatic domain randomization settings (envs.adr.ADRConfig; train split only)")
    curriculum: dict[str, Any] | None = Field(
        default=None, description="scheduled range curriculum (envs.curriculum; train split only)")

    @field_validator("params")
    @classmethod
    def _known(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in v:
            parse_name(name)
        return v


def parse_randomization(mapping: RandomizationSpec | dict[str, Any] | None) -> RandomizationSpec:
    """Validate a randomization mapping; any mistake becomes a one-line :class:`SimtransferError`."""
    if isinstance(mapping, RandomizationSpec):
        return mapping
    if mapping is None:
        return RandomizationSpec()
    if not isinstance(mapping, dict):
        raise SimtransferError(f"bad randomization spec: expected a mapping, got {type(mapping).__name__}")
    try:
        return RandomizationSpec(**mapping)
    except SimtransferError:
        raise
    except ValidationError as exc:
        raise validation_error(exc, "bad randomization spec") from None


class PhysicsRandomizer(gym.Wrapper):
    """Sample physical parameters at reset (and optionally every N steps) and apply them through PyBullet
    (:class:`~simtransfer.envs.bullet.BulletBinding`) or, on a LunarLander, :class:`~simtransfer.envs.games.LunarLanderBinding`.

    The applied values are in ``info["params"]`` after every reset (and after a mid-episode resample), the
    held-out target index in ``info["context_id"]`` (-1 for training samples). Its own random stream is
    seeded by ``reset(seed=...)``, so the task's initial states are the same as without randomization.
    ``reset(options={"keep_params": True})`` (without a seed) keeps the current parameters instead of drawing
    new ones: the seam of meta-RL trials (:class:`simtransfer.envs.trial.TrialWrapper`).

    >>> import gymnasium as gym, pybullet_envs_gymnasium                    # doctest: +SKIP
    >>> env = PhysicsRandomizer(gym.make("InvertedPendulumBulletEnv-v0"),
    ...                         {"params": {"mass": {"low": 0.5, "high": 2.0}}})
    >>> env.reset(seed=1)[1]["params"]                                       # doctest: +SKIP
    """

    def __init__(self, env: gym.Env, spec: RandomizationSpec | dict[str, Any] | None = None) -> None:
        super().__init__(env)
        self.config = parse_randomization(spec)
        self.space = ParameterSpace.from_mapping(dict(self.config.params))
        self.selector = Selector(self.space, self.config.split, split_seed=self.config.split_seed,
                                 n_targets=self.config.n_targets, mode=self.config.selector)
        self._rng = np.random.default_rng()
        # Box2D games are bound at once (their parameters are written before a reset); PyBullet envs after
        # their first reset, when the bodies exist
        self._binding: BulletBinding | LunarLanderBinding | None = (
            LunarLanderBinding(env, self.space) if is_lunar_lander(env) else None)
        self._steps = 0
        self.current_params: dict[str, float] = self.space.nominal()
        self._nominal = self.config.split == "nominal"
        self.context_id = 0 if self._nominal else -1
        self._pinned: dict[str, float] | None = None
        self._restore = False
        if not self.config.resample_every or self.config.split == "nominal":
            self.step = self.env.step  # nothing to do per step: skip this layer entirely (no per-step cost)

    @property
    def param_names(self) -> list[str]:
        return self.space.names

    @property
    def binding(self) -> BulletBinding | LunarLanderBinding | None:
        """Physics handles, available after the first reset."""
        return self._binding

    def pin(self, values: dict[str, float] | None) -> None:
        """From the next reset on, apply exactly ``values`` every episode (names left out: nominal), whatever
        the split; ``None`` hands the choice back to the split's selector. The seam for evaluating a policy at
        chosen physics (worst-case search, sweeps). Unknown names or values outside the valid bounds: one-line
        error."""
        if values is None:
            self._restore = self._pinned is not None  # a nominal env writes its native values back once
            self._pinned = None
            return
        unknown = sorted(set(values) - set(self.space.names))
        if unknown:
            raise SimtransferError(f"unknown parameter '{unknown[0]}' for this env (its parameters: "
                                   f"{', '.join(self.space.names) or 'none'})")
        for name, v in values.items():
            lo, hi = self.space.by_name[name].valid
            if not lo <= float(v) <= hi:
                raise SimtransferError(f"parameter '{name}': {float(v):g} is outside its valid bounds [{lo:g}, {hi:g}]")
        self._pinned = {**self.space.nominal(), **{k: float(v) for k, v in values.items()}}

    def _choose(self, restart: bool) -> None:
        if self._pinned is not None:
            self.current_params, self.context_id = dict(self._pinned), 0
        elif self._nominal:
            self.current_params, self.context_id = self.space.nominal(), 0
        else:
            self.context_id, self.current_params = self.selector.select(self._rng, restart=restart)

    @property
    def _native(self) -> bool:
        """The simulator keeps its native values (nominal split, nothing pinned): nothing to write."""
        return self._nominal and self._pinned is None

    def _apply(self) -> None:
        assert self._binding is not None
        self._binding.apply(None if self._native else self.current_params)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0x7A2D])
        binding = self._binding
        options = dict(options) if options else None
        keep = bool(options.pop("keep_params", False)) if options else False
        if not (keep and seed is None and binding is not None):  # a trial's inner episode keeps its physics
            self._choose(restart=seed is not None)
        if binding is not None and not self._native:
            binding.preset_before_reset(self.current_params)
        obs, info = self.env.reset(seed=seed, options=options)
        if binding is None:
            bullet_client(self.env)
            self._binding = BulletBinding(self.env, self.space)
            self._apply()
        elif not self._native or self._restore:  # nominal: the native values never change, nothing to write again
            self._apply()
            self._restore = False
        self._steps = 0
        info = dict(info)
        info["params"] = dict(self.current_params)
        info["context_id"] = self.context_id
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        every = self.config.resample_every
        if every and self._steps % every == 0 and not self._native:
            self._choose(restart=False)
            self._apply()
            info = dict(info)
            info["params"] = dict(self.current_params)
            info["context_id"] = self.context_id
        return obs, reward, terminated, truncated, info
