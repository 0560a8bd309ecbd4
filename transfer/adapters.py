"""Space adapters: let a source policy act in a target env whose observation/action spaces differ.

Three pieces, composable and declared in a run's config (so they are saved with it):

* :class:`ObsIndexMap` (gym wrapper, ``adapters:``) — the policy sees ``out[i] = obs[index[i]]``, zero where
  ``index[i]`` is ``None``: the target observation rearranged into the source's layout;
* :class:`ActionIndexMap` (gym wrapper, ``adapters:``) — the env gets ``act[j] = scale[j] * policy[index[j]]``
  (``fill`` where ``index[j]`` is ``None``): the source's action layout spread onto the target's actuators;
* :class:`LinearObsProjection` (SB3 features extractor) — a trainable ``nn.Linear`` from the target observation
  to the source layout, initialised to the index map, trained with the policy and saved in its state dict.

Named presets (:data:`PRESETS`) hold field-by-field maps read from ``pybullet_envs_gymnasium``'s
``calc_state`` (see docs/transfer.md).

>>> import gymnasium as gym, pybullet_envs_gymnasium
>>> env = ObsIndexMap(gym.make("InvertedDoublePendulumBulletEnv-v0"), preset="invpendulum_to_invdoublependulum")
>>> env.observation_space.shape
(5,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from simtransfer.agents.config import TrainConfig, update_config
from simtransfer.envs.errors import SimtransferError

Index = list[int | None]


@dataclass(frozen=True)
class AdapterPreset:
    """A field-by-field map from a source task's spaces to a target task's."""

    name: str
    source: str
    target: str
    source_obs_fields: tuple[str, ...]
    target_obs_fields: tuple[str, ...]
    obs_index: tuple[int | None, ...]  # per source field: the target field it reads (None: zero)
    action_index: tuple[int | None, ...] | None = None  # per target actuator: the source action driving it
    action_scale: tuple[float, ...] | None = None
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


_WALKER_COMMON = ("z-z0", "sin(angle_to_target)", "cos(angle_to_target)", "0.3*vx", "0.3*vy", "0.3*vz", "roll",
                  "pitch")
_JOINT = ("pos", "speed")

PRESETS: dict[str, AdapterPreset] = {
    p.name: p
    for p in (
        AdapterPreset(
            name="invpendulum_to_invdoublependulum",
            source="InvertedPendulumBulletEnv-v0",
            target="InvertedDoublePendulumBulletEnv-v0",
            source_obs_fields=("x", "vx", "cos(theta)", "sin(theta)", "theta_dot"),
            target_obs_fields=("x", "vx", "pole2_x", "cos(theta)", "sin(theta)", "theta_dot", "cos(gamma)",
                               "sin(gamma)", "gamma_dot"),
            obs_index=(0, 1, 3, 4, 5),
            action_index=(0,),
            action_scale=(1.0,),
            notes="slider force is 100*a on the single and 200*a on the double pendulum: action scale 0.5 "
                  "reproduces the source's force, 1.0 (default) keeps the full actuator range",
            aliases=("pendulum_to_double",),
        ),
        AdapterPreset(
            name="hopper_to_walker2d",
            source="HopperBulletEnv-v0",
            target="Walker2DBulletEnv-v0",
            source_obs_fields=_WALKER_COMMON
            + tuple(f"{j}_{q}" for j in ("thigh", "leg", "foot") for q in _JOINT) + ("foot_contact",),
            target_obs_fields=_WALKER_COMMON
            + tuple(f"{j}_{q}" for j in ("thigh", "leg", "foot", "thigh_left", "leg_left", "foot_left")
                    for q in _JOINT) + ("foot_contact", "foot_left_contact"),
            obs_index=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20),
            action_index=(0, 1, 2, 0, 1, 2),
            action_scale=(1.0,) * 6,
            notes="the left leg mirrors the right (same action); torques are power*power_coef*a: Hopper 75 on "
                  "every joint, Walker2D 40 (thigh, leg) and 12 (foot)",
            aliases=("hopper_to_walker",),
        ),
    )
}


def get_preset(name: str) -> AdapterPreset:
    key = name.strip().lower().replace("-", "_")
    for p in PRESETS.values():
        if key == p.name or key in p.aliases:
            return p
    raise SimtransferError(f"unknown adapter preset '{name}' (available: {', '.join(PRESETS)})")


def _box(low: np.ndarray, high: np.ndarray) -> spaces.Box:
    return spaces.Box(low=low.astype(np.float32), high=high.astype(np.float32), dtype=np.float32)


def _check_index(index: Any, size: int, what: str, env: gym.Env) -> Index:
    if not isinstance(index, (list, tuple)) or not index:
        raise SimtransferError(f"{what}: 'index' must be a non-empty list of integers or null")
    out: Index = []
    for i in index:
        if i is not None and (not isinstance(i, (int, np.integer)) or not 0 <= int(i) < size):
            raise SimtransferError(f"{what}: index {i!r} out of range for {env.spec.id if env.spec else 'env'} "
                                   f"(size {size})")
        out.append(None if i is None else int(i))
    return out


class ObsIndexMap(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Rearrange a Box observation: ``out[i] = obs[index[i]]``, ``fill`` where ``index[i]`` is None.

    ``preset`` names an entry of :data:`PRESETS` instead of an explicit ``index``.

    >>> import gymnasium as gym, pybullet_envs_gymnasium
    >>> env = ObsIndexMap(gym.make("Walker2DBulletEnv-v0"), preset="hopper_to_walker2d")
    >>> env.observation_space.shape
    (15,)
    """

    def __init__(self, env: gym.Env, index: Index | None = None, preset: str | None = None,
                 fill: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, index=index, preset=preset, fill=fill)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise SimtransferError(f"ObsIndexMap needs a flat Box observation space, got {space}")
        if index is None:
            if preset is None:
                raise SimtransferError("ObsIndexMap needs 'index' or 'preset'")
            index = list(get_preset(preset).obs_index)
        self.index = _check_index(index, space.shape[0], "ObsIndexMap", env)
        self.fill = float(fill)
        self._src = np.array([i if i is not None else 0 for i in self.index])
        self._mask = np.array([i is not None for i in self.index])
        low = np.where(self._mask, space.low[self._src], self.fill)
        high = np.where(self._mask, space.high[self._src], self.fill)
        self.observation_space = _box(low, high)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        out = np.where(self._mask, np.asarray(observation)[self._src], self.fill)
        return out.astype(np.float32)


class ActionIndexMap(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Spread a smaller Box action onto the env's actuators: ``act[j] = scale[j] * a[index[j]]``.

    ``index`` has one entry per env actuator (None: ``fill``); the policy's action size is ``policy_dim``
    (default ``max(index)+1``).  Actions are clipped to the env's bounds.

    >>> import gymnasium as gym, pybullet_envs_gymnasium
    >>> env = ActionIndexMap(gym.make("Walker2DBulletEnv-v0"), preset="hopper_to_walker2d")
    >>> env.action_space.shape
    (3,)
    """

    def __init__(self, env: gym.Env, index: Index | None = None, preset: str | None = None,
                 scale: float | list[float] = 1.0, fill: float = 0.0, policy_dim: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, index=index, preset=preset, scale=scale, fill=fill,
                                                 policy_dim=policy_dim)
        gym.ActionWrapper.__init__(self, env)
        space = env.action_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise SimtransferError(f"ActionIndexMap needs a flat Box action space, got {space}")
        n = space.shape[0]
        if index is None:
            if preset is None:
                raise SimtransferError("ActionIndexMap needs 'index' or 'preset'")
            p = get_preset(preset)
            if p.action_index is None:
                raise SimtransferError(f"adapter preset '{preset}' has no action map")
            index = list(p.action_index)
            if scale == 1.0 and p.action_scale is not None:
                scale = list(p.action_scale)
        if len(index) != n:
            raise SimtransferError(f"ActionIndexMap: index has {len(index)} entries, env has {n} actuators")
        used = [i for i in index if i is not None]
        self.policy_dim = int(policy_dim if policy_dim is not None else (max(used) + 1 if used else 0))
        if self.policy_dim < 1:
            raise SimtransferError("ActionIndexMap: no actuator is driven by the policy")
        self.index = _check_index(index, self.policy_dim, "ActionIndexMap", env)
        scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,)).copy()
        self.scale, self.fill = scales, float(fill)
        self._src = np.array([i if i is not None else 0 for i in self.index])
        self._mask = np.array([i is not None for i in self.index])
        low = np.full(self.policy_dim, -1.0)
        high = np.full(self.policy_dim, 1.0)
        for j, i in enumerate(self.index):  # the first actuator a policy dimension drives sets its bounds
            if i is not None and low[i] == -1.0 and high[i] == 1.0:
                low[i], high[i] = space.low[j] / max(abs(scales[j]), 1e-8), space.high[j] / max(abs(scales[j]), 1e-8)
        self.action_space = _box(np.minimum(low, high), np.maximum(low, high))

    def action(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        out = np.where(self._mask, self.scale * a[self._src], self.fill)
        space = self.env.action_space
        return np.clip(out, space.low, space.high).astype(space.dtype)


class IndexProjection(nn.Module):
    """``y = W x + b`` with ``W`` initialised to the selection matrix of ``index`` and ``b = 0``.

    Not an ``nn.Linear`` on purpose: SB3's orthogonal initialisation re-initialises every ``nn.Linear`` of a
    policy after construction, which would erase the index map.
    """

    def __init__(self, in_dim: int, index: Index) -> None:
        super().__init__()
        weight = torch.zeros(len(index), in_dim)
        for i, j in enumerate(index):
            if j is not None:
                weight[i, j] = 1.0
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(len(index)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


class LinearObsProjection(BaseFeaturesExtractor):
    """Trainable ``Linear(obs_dim → len(index))`` initialised to the index map (a learned observation adapter).

    Use as ``policy.features_extractor_class: transfer.adapters:LinearObsProjection`` with
    ``features_extractor_kwargs: {index: [...]}`` (or ``{preset: name}``); its weights are ``*.proj.*``.
    """

    def __init__(self, observation_space: spaces.Box, index: Index | None = None, preset: str | None = None,
                 trainable: bool = True) -> None:
        if index is None:
            if preset is None:
                raise SimtransferError("LinearObsProjection needs 'index' or 'preset'")
            index = list(get_preset(preset).obs_index)
        in_dim = int(np.prod(observation_space.shape))
        super().__init__(observation_space, features_dim=len(index))
        self.index = [None if i is None else int(i) for i in index]
        if any(i is not None and not 0 <= i < in_dim for i in self.index):
            raise SimtransferError(f"LinearObsProjection: index {self.index} out of range for observation size {in_dim}")
        self.proj = IndexProjection(in_dim, self.index)
        self.proj.requires_grad_(trainable)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.flatten(observations, start_dim=1))


def projection_index(model: Any) -> Index | None:
    """The index map of a model's :class:`LinearObsProjection`, if it has one."""
    for m in model.policy.modules():
        if isinstance(m, LinearObsProjection):
            return list(m.index)
    return None


def adapter_config(name: str, mode: str = "index", action_scale: float | list[float] | None = None
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(``adapters`` wrapper specs, ``policy`` updates) implementing preset ``name`` in ``mode`` index|learned."""
    p = get_preset(name)
    wrappers: list[dict[str, Any]] = []
    policy: dict[str, Any] = {}
    if mode == "index":
        wrappers.append({"type": "simtransfer.transfer.adapters:ObsIndexMap", "kwargs": {"preset": p.name}})
    elif mode == "learned":
        policy = {"features_extractor_class": "simtransfer.transfer.adapters:LinearObsProjection",
                  "features_extractor_kwargs": {"preset": p.name}}
    else:
        raise SimtransferError(f"unknown adapter mode '{mode}' (index or learned)")
    if p.action_index is not None and len(p.action_index) > max(i for i in p.action_index if i is not None) + 1:
        kwargs: dict[str, Any] = {"preset": p.name}
        if action_scale is not None:
            kwargs["scale"] = action_scale
        wrappers.append({"type": "simtransfer.transfer.adapters:ActionIndexMap", "kwargs": kwargs})
    elif action_scale is not None:
        wrappers.append({"type": "simtransfer.transfer.adapters:ActionIndexMap",
                         "kwargs": {"index": list(p.action_index or [0]), "scale": action_scale}})
    return wrappers, policy


def configure_adapters(config: TrainConfig, name: str, mode: str = "index",
                       action_scale: float | list[float] | None = None) -> TrainConfig:
    """A copy of ``config`` with preset ``name`` added to its adapters / policy.

    The preset's wrappers go innermost (first): they turn the target env into the source's layout, and the
    source's own adapters (e.g. an observation-action history) then see exactly what they saw in training.
    """
    wrappers, policy = adapter_config(name, mode, action_scale)
    if policy and config.policy.features_extractor_class:
        raise SimtransferError(
            f"adapter_mode learned needs the features extractor slot, but the config already uses "
            f"{config.policy.features_extractor_class}"
        )
    updates: dict[str, Any] = {"adapters": wrappers + [a.model_dump() for a in config.adapters]}
    updates.update({f"policy.{k}": v for k, v in policy.items()})
    return update_config(config, updates)


def suggest_preset(source_id: str, target_id: str) -> str | None:
    """The preset whose task names match the two env ids (``simtransfer/Hopper-v0`` matches HopperBullet)."""
    def task(env_id: str) -> str:
        base = env_id.split("/")[-1].split(":")[-1].split("-")[0]
        for suffix in ("BulletEnv", "Nominal", "Interp", "Extrap"):
            base = base.replace(suffix, "")
        return base.lower()

    for p in PRESETS.values():
        if task(p.source) == task(source_id) and task(p.target) == task(target_id):
            return p.name
    return None


def adapter_hint(source_id: str, target_id: str, fallback: str = "an adapter (see docs/transfer.md)") -> str:
    """What a spaces-differ error tells the user to add: ``--adapter <preset>`` when one fits, else ``fallback``."""
    hint = suggest_preset(source_id, target_id)
    return f"--adapter {hint}" if hint else fallback
