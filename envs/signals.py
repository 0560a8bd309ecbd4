"""Actuators and sensors as randomizable parameters: latency, noise, bias and control period drawn per episode.

The kinds (``action_latency``, ``obs_latency``, ``action_noise``, ``obs_noise``, ``obs_bias``,
``control_period``; see :data:`simtransfer.envs.params.KINDS`, target ``signal``) live in the same randomization
spec as the physics, so the sampler, held-out splits, ADR and ``info["params"]`` treat them alike.
:func:`simtransfer.envs.randomization.apply_randomization` puts one :class:`SignalModel` right above the
:class:`~simtransfer.envs.randomizer.PhysicsRandomizer` when the spec has any of them; it reads the episode's
values from the randomizer after every reset. Per-actuator motor strength is the physics kind
``motor_gain@<joint>``. The fixed-value wrappers of :mod:`simtransfer.envs.wrappers` stay as they are.

Order inside one step: action noise -> action latency queue -> ``control_period`` simulator steps (rewards
summed) -> observation latency queue -> bias + noise.

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/CartPole-v0", randomization={"params": {
...     "action_latency": {"dist": "categorical", "choices": [2]}, "obs_noise": {"low": 0.0, "high": 0.01}}})
>>> obs, info = env.reset(seed=0)
>>> info["params"]["action_latency"], 0.0 <= info["params"]["obs_noise"] <= 0.01
(2.0, True)
>>> env.close()
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import KINDS
from simtransfer.envs.randomizer import PhysicsRandomizer

SIGNAL_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.target == "signal")
INTEGER_KINDS = ("action_latency", "obs_latency", "control_period")


def signal_params(randomizer: PhysicsRandomizer) -> list[str]:
    """Names of the randomizer's actuator/sensor parameters."""
    return [p.name for p in randomizer.space.params if p.kind in SIGNAL_KINDS]


class SignalModel(gym.Wrapper):
    """Apply the episode's actuator/sensor parameters (read from the physics randomizer below it).

    Its noise stream is seeded by ``reset(seed=...)`` and separate from the task's and the randomizer's.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        inner: Any = env
        while not isinstance(inner, PhysicsRandomizer):
            if not isinstance(inner, gym.Wrapper):
                raise SimtransferError("signal parameters need a physics randomizer below them")
            inner = inner.env
        self.randomizer = inner
        self._by_kind: dict[str, str] = {}
        for prm in inner.space.params:
            if prm.kind in SIGNAL_KINDS:
                if prm.links is not None:
                    raise SimtransferError(f"parameter '{prm.name}': {prm.kind} applies to every "
                                           "actuator/sensor channel, it takes no label")
                if prm.kind in self._by_kind:
                    raise SimtransferError(f"parameter '{prm.name}': {prm.kind} is given twice")
                self._by_kind[prm.kind] = prm.name
        act, obs = env.action_space, env.observation_space
        needs_box_action = {"action_noise"} & set(self._by_kind)
        if needs_box_action and not isinstance(act, gym.spaces.Box):
            raise SimtransferError(f"action_noise needs a Box action space, got {type(act).__name__}")
        if set(self._by_kind) & {"obs_noise", "obs_bias"} and not isinstance(obs, gym.spaces.Box):
            raise SimtransferError(f"obs_noise/obs_bias need a Box observation space, got {type(obs).__name__}")
        self._noop = np.zeros(act.shape, dtype=act.dtype) if isinstance(act, gym.spaces.Box) else act.sample() * 0
        self._rng = np.random.default_rng()
        self.values: dict[str, float] = {}
        self._actions: deque[Any] = deque()
        self._observations: deque[np.ndarray] = deque()
        self._bias: np.ndarray | float = 0.0

    def _value(self, kind: str) -> float:
        name = self._by_kind.get(kind)
        v = KINDS[kind].nominal_absolute if name is None else self.randomizer.current_params[name]
        return float(round(v)) if kind in INTEGER_KINDS else float(v)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0x5167])
        # an RL² trial's inner reset (envs/trial.py) keeps the trial's sensor offset along with its parameters
        keep = seed is None and bool(options and options.get("keep_params")) and bool(self.values)
        obs, info = self.env.reset(seed=seed, options=options)
        self.values = {k: self._value(k) for k in SIGNAL_KINDS}
        self._actions = deque([self._noop] * int(self.values["action_latency"]))
        self._observations = deque([obs] * (int(self.values["obs_latency"]) + 1),
                                   maxlen=int(self.values["obs_latency"]) + 1)
        if not keep:
            self._bias = (self._rng.normal(0.0, 1.0, np.shape(obs)) * self.values["obs_bias"]
                          if self.values["obs_bias"] > 0 else 0.0)
        return self._sense(obs), info

    def _sense(self, obs: Any) -> Any:
        noise = self.values["obs_noise"]
        if noise <= 0 and isinstance(self._bias, float):
            return np.array(obs) if self.values["obs_latency"] > 0 else obs  # queued arrays are never handed out
        noisy = obs + self._bias + (self._rng.normal(0.0, noise, np.shape(obs)) if noise > 0 else 0.0)
        return np.asarray(noisy, dtype=np.asarray(obs).dtype)

    def step(self, action: Any):
        std = self.values["action_noise"]
        if std > 0:
            space = self.action_space
            action = np.clip(np.asarray(action, np.float64) + self._rng.normal(0.0, std, space.shape),
                             space.low, space.high).astype(space.dtype)
        if self.values["action_latency"] > 0:
            self._actions.append(action)
            action = self._actions.popleft()
        total = 0.0
        for _ in range(int(self.values["control_period"])):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        self._observations.append(obs)
        return self._sense(self._observations[0]), total, terminated, truncated, info
