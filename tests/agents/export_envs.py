"""Tiny envs with the spaces `simtransfer export` handles beyond flat Box/Discrete (not a test module):
a Dict observation and a MultiDiscrete action, both over gymnasium's Pendulum."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DictPendulum(gym.ObservationWrapper):
    """Pendulum observing ``{"angle": (cos, sin), "velocity": (thdot,)}`` (given in unsorted order; gymnasium
    sorts Dict keys); ``mode=True`` adds a ``Discrete(2)`` entry (not exportable)."""

    def __init__(self, mode: bool = False) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        entries = {"velocity": spaces.Box(-8.0, 8.0, (1,), np.float32), "angle": spaces.Box(-1.0, 1.0, (2,),
                                                                                            np.float32)}
        self.mode = mode
        if mode:
            entries["mode"] = spaces.Discrete(2)
        self.observation_space = spaces.Dict(entries)

    def observation(self, obs: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"angle": obs[:2].astype(np.float32), "velocity": obs[2:].astype(np.float32)}
        if self.mode:
            out["mode"] = int(obs[0] > 0)
        return out


class MultiDiscretePendulum(gym.ActionWrapper):
    """Pendulum driven by two discrete choices: a torque level (5) and a gain (3)."""

    def __init__(self) -> None:
        super().__init__(gym.make("Pendulum-v1"))
        self.action_space = spaces.MultiDiscrete([5, 3])

    def action(self, action: Any) -> np.ndarray:
        level, gain = int(action[0]), int(action[1])
        return np.array([(level - 2) / 2 * 2.0 * (gain + 1) / 3], dtype=np.float32)


DICT_ENV = "tests.agents.export_envs:DictPendulum"
MULTI_ENV = "tests.agents.export_envs:MultiDiscretePendulum"
