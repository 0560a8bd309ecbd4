"""Observation-action history for implicit system identification.

A policy that sees how the system responded to its last few actions can infer unobserved physics (mass,
friction, motor strength) without being told them — the alternative to privileged context
(:class:`simtransfer.envs.wrappers.ContextObservation`) when the real system's parameters cannot be measured.

:class:`HistoryObservation` turns a flat Box observation ``o_t`` into
``[o_{t-k+1}, ..., o_t, a_{t-k}, ..., a_{t-1}]`` (oldest first): the last ``k`` observations and the ``k``
actions taken before the newest of them. At reset the observation slots are filled with the first
observation and the action slots with zeros (Box actions; one-hot for Discrete actions, all zeros = none).

>>> import gymnasium as gym, simtransfer.envs
>>> env = HistoryObservation(gym.make("simtransfer/InvertedPendulumNominal-v0"), k=3)
>>> env.observation_space.shape                       # 3 * 5 observation + 3 * 1 action
(18,)
>>> obs, _ = env.reset(seed=0)
>>> bool((obs[:5] == obs[10:15]).all()) and bool((obs[15:] == 0).all())
True
>>> env.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.errors import SimtransferError


class HistoryObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Stack the last ``k`` observations and the last ``k`` actions into one flat float32 Box observation.

    Bounds: the observation bounds repeated ``k`` times, then the action bounds repeated ``k`` times
    (``[0, 1]`` per one-hot entry for Discrete actions). ``include_actions=False`` stacks observations only.
    """

    def __init__(self, env: gym.Env, k: int = 4, include_actions: bool = True) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, k=k, include_actions=include_actions)
        gym.Wrapper.__init__(self, env)
        if int(k) < 1:
            raise SimtransferError(f"history: k must be >= 1, got {k}")
        obs_space = env.observation_space
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise SimtransferError(f"history needs a flat Box observation, got {obs_space}")
        self.k, self.include_actions = int(k), bool(include_actions)
        self.obs_dim = int(obs_space.shape[0])
        act = env.action_space
        if isinstance(act, gym.spaces.Box):
            self._discrete = False
            self.act_dim = int(np.prod(act.shape))
            act_low, act_high = act.low.reshape(-1), act.high.reshape(-1)
        elif isinstance(act, gym.spaces.Discrete):
            self._discrete = True
            self.act_dim = int(act.n)
            act_low, act_high = np.zeros(self.act_dim), np.ones(self.act_dim)
        else:
            raise SimtransferError(f"history supports Box or Discrete actions, got {type(act).__name__}")
        lows = [np.tile(obs_space.low, self.k)]
        highs = [np.tile(obs_space.high, self.k)]
        if self.include_actions:
            lows.append(np.tile(act_low, self.k))
            highs.append(np.tile(act_high, self.k))
        self.observation_space = gym.spaces.Box(np.concatenate(lows).astype(np.float32),
                                                np.concatenate(highs).astype(np.float32), dtype=np.float32)
        self._obs = np.zeros((self.k, self.obs_dim), dtype=np.float32)
        self._act = np.zeros((self.k, self.act_dim), dtype=np.float32)

    def _encode(self, action: Any) -> np.ndarray:
        if self._discrete:
            onehot = np.zeros(self.act_dim, dtype=np.float32)
            onehot[int(action)] = 1.0
            return onehot
        return np.asarray(action, dtype=np.float32).reshape(-1)

    def _stacked(self) -> np.ndarray:
        parts = [self._obs.reshape(-1)]
        if self.include_actions:
            parts.append(self._act.reshape(-1))
        return np.concatenate(parts)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs[:] = np.asarray(obs, dtype=np.float32)
        self._act[:] = 0.0
        return self._stacked(), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = np.roll(self._obs, -1, axis=0)
        self._obs[-1] = np.asarray(obs, dtype=np.float32)
        self._act = np.roll(self._act, -1, axis=0)
        self._act[-1] = self._encode(action)
        return self._stacked(), reward, terminated, truncated, info
