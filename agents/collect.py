"""Roll out a policy (a run, random actions or a scripted excitation) on a target and log it as trajectories.

The log is taken directly on the target env (below the run's adapters), so it holds what a robot's own logger
records: raw observations, the actions sent, rewards, terminations, truncations and time stamps
(:mod:`simtransfer.agents.trajectories`).

>>> import pathlib, tempfile
>>> out = pathlib.Path(tempfile.mkdtemp()) / "data"
>>> collect("random", "simtransfer/InvertedPendulumNominal-v0", out, episodes=2, seed=0).total_steps > 0
True
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.agents.evaluation import RandomPolicy
from simtransfer.agents.policy_io import load_policy
from simtransfer.agents.trajectories import Trajectories, TrajectoryWriter, read_trajectories
from simtransfer.agents.vecenv import FiniteObservations
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import WrapperSpec, apply_wrappers, make_env, parse_env_spec

POLICIES = ("random", "scripted")


class ScriptedExcitation:
    """Smooth random excitation for a target with no policy yet: AR(1) noise (correlation ``rho``) at ``scale``
    of the action bounds, so the log covers slow and fast inputs."""

    def __init__(self, action_space: gym.spaces.Box, seed: int | None = None, rho: float = 0.8,
                 scale: float = 0.6) -> None:
        self.space, self.rho, self.scale = action_space, rho, scale
        self._rng = np.random.default_rng(seed)
        self._u = np.zeros(action_space.shape)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        if episode_start is not None and np.any(episode_start):
            self._u = np.zeros(self.space.shape)
        self._u = self.rho * self._u + np.sqrt(1 - self.rho**2) * self._rng.normal(size=self.space.shape)
        mid, half = (self.space.high + self.space.low) / 2, (self.space.high - self.space.low) / 2
        return np.clip(mid + self.scale * half * self._u, self.space.low, self.space.high).astype(self.space.dtype), state


class _Recorder(gym.Wrapper):
    """Write every transition of the env below into a :class:`TrajectoryWriter`."""

    def __init__(self, env: gym.Env, writer: TrajectoryWriter, dt: float) -> None:
        super().__init__(env)
        self.writer, self.dt, self._k = writer, dt, 0

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._k = 0
        self.writer.start_episode(obs, t=0.0)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._k += 1
        self.writer.add_step(action, obs, float(reward), bool(terminated), bool(truncated), t=self._k * self.dt)
        if terminated or truncated:
            self.writer.end_episode()
        return obs, reward, terminated, truncated, info


def control_period(env: gym.Env) -> float | None:
    """Seconds per control step of a PyBullet env (``scene.dt``), else ``env.unwrapped.dt``, else None."""
    scene = getattr(env.unwrapped, "scene", None)
    dt = getattr(scene, "dt", None) or getattr(env.unwrapped, "dt", None)
    return float(dt) if dt else None


def env_class(env: gym.Env) -> str:
    return type(env.unwrapped).__name__


def collect(policy: str | Path, target: str | dict, out: str | Path, *, episodes: int = 10, seed: int = 0,
            max_steps: int | None = None) -> Trajectories:
    """Roll out ``policy`` (a run directory, ``random`` or ``scripted``) on ``target`` for ``episodes`` episodes
    (reset seeds ``seed + i``) and write them to ``out`` (a new dataset directory)."""
    if episodes < 1:
        raise SimtransferError(f"--episodes must be at least 1, got {episodes}")
    out = Path(out)
    if out.exists():
        raise SimtransferError(f"{out}: already exists; trajectories are never overwritten (choose a new path)")
    spec = parse_env_spec(target)
    base = make_env(spec, seed=seed)
    adapters: list = []
    if str(policy) in POLICIES:
        model: Any = (RandomPolicy(base.action_space, seed=seed) if str(policy) == "random"
                      else ScriptedExcitation(base.action_space, seed=seed))
        source = str(policy)
    else:
        loaded = load_policy(policy)
        model, adapters, source = loaded, list(loaded.config.adapters), f"run {policy}"
    base.reset(seed=seed)  # PyBullet scenes (and their time step) exist after the first reset
    dt = control_period(base)
    meta = {"source": source, "target": spec.id, "env_class": env_class(base), "seed": seed,
            "collected": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    tmp = out.with_name(f".{out.name}.tmp{time.time_ns()}")
    try:
        with TrajectoryWriter(tmp, env_id=spec.id, observation_space=base.observation_space,
                              action_space=base.action_space, control_period=dt, metadata=meta) as writer:
            env = _Recorder(base, writer, dt or 1.0)
            env = apply_wrappers(env, [a if isinstance(a, WrapperSpec) else WrapperSpec(**a) for a in adapters])
            env = FiniteObservations(env, spec.name or spec.id)
            for i in range(episodes):
                obs, _ = env.reset(seed=seed + i)
                start, state, steps, done = np.ones((1,), bool), None, 0, False
                while not done:
                    action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
                    obs, _, terminated, truncated, _ = env.step(action)
                    steps += 1
                    start = np.zeros((1,), bool)
                    done = terminated or truncated or (max_steps is not None and steps >= max_steps)
            env.close()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_trajectories(out)
