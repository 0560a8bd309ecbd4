"""Tiny, seeded training configs shared by the agents/ and experiments/ tests (not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.experiments.config import TrainConfig, deep_merge, resolve_train_config

FAST_HP: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "a2c": {"n_steps": 8},
    "recurrent_ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    "dqn": {"learning_starts": 32, "buffer_size": 1000, "train_freq": 4, "target_update_interval": 50},
    "sac": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32, "train_freq": 4, "gradient_steps": 1},
    "td3": {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32, "train_freq": 4, "gradient_steps": 1,
            "action_noise": {"type": "normal", "sigma": 0.1}},
}
DISCRETE_ENV = "CartPole-v1"
CONTINUOUS_ENV = "Pendulum-v1"


def tiny_config(algo: str = "ppo", **over: Any) -> TrainConfig:
    """A config that trains in about a second: classic-control env, 128 steps, small nets, W&B disabled."""
    env = CONTINUOUS_ENV if algo in ("sac", "td3") else DISCRETE_ENV
    raw: dict[str, Any] = {
        "env": env, "algo": algo, "seed": 0, "total_timesteps": 128, "hyperparams": dict(FAST_HP[algo]),
        "policy": {"net_arch": [16, 16]} if algo != "recurrent_ppo" else {"net_arch": [16],
                                                                          "kwargs": {"lstm_hidden_size": 8}},
        "eval": {"every": 64, "episodes": 2}, "checkpoint_every": 64, "progress": False,
        "tracking": {"mode": "disabled"},
    }
    return resolve_train_config(deep_merge(raw, over), use_defaults=False)


def write_config(path: Path, algo: str = "ppo", **over: Any) -> Path:
    path.write_text(tiny_config(algo, **over).to_yaml())
    return path


class ActionRange(gym.ActionWrapper):
    """An env that claims the action range ``[-high, high]`` (actions are clipped into the env's own range)."""

    def __init__(self, env: gym.Env, high: float) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Box(-high, high, env.action_space.shape, np.float32)

    def action(self, action: Any) -> Any:
        return np.clip(action, self.env.action_space.low, self.env.action_space.high)


def action_range_target(env_id: str, high: float) -> dict[str, Any]:
    """An env spec: ``env_id`` with the action range ``[-high, high]`` (see :class:`ActionRange`)."""
    return {"id": env_id, "name": f"range{high:g}",
            "wrappers": [{"type": "tests.agents.runs:ActionRange", "kwargs": {"high": high}}]}


class NanAfter(gym.Wrapper):
    """CartPole whose observations turn NaN from step ``after`` of every episode on."""

    def __init__(self, after: int = 3) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.after, self.t = after, 0

    def reset(self, **kwargs: Any) -> Any:
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        if self.t >= self.after:
            obs = np.full_like(obs, np.nan)
        return obs, reward, terminated, truncated, info


NAN_ENV = "tests.agents.runs:NanAfter"
