"""Parity: the exported file against the framework's own inference, on observations from real episodes.

The reference is the framework's path: the run's env with its adapters, ``LoadedPolicy.predict`` (normalization
included, deterministic), the adapters' action transforms. A recorder under the adapters keeps the raw
observation each step starts from and the action the env finally received.

>>> from simtransfer.agents.export.parity import check_parity
>>> check_parity("runs/pendulum", "pendulum.onnx", steps=1000)["max_abs_diff"] <= 1e-5   # doctest: +SKIP
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.agents.export._build import adapter_chain
from simtransfer.agents.export.runtime import ExportedPolicy
from simtransfer.agents.policy_io import LoadedPolicy, load_policy
from simtransfer.envs.spec import make_env


class _Recorder(gym.Wrapper):
    """Innermost: the raw observations handed up and the actions that arrived."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.obs: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []

    @staticmethod
    def _copy(obs: Any) -> Any:
        return {k: np.array(v, copy=True) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs,
                                                                                                        copy=True)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self.last = self._copy(obs)
        return obs, info

    def step(self, action: Any):
        self.obs.append(self.last)
        self.actions.append(np.array(action, copy=True))
        obs, *rest = self.env.step(action)
        self.last = self._copy(obs)
        return (obs, *rest)


def reference_rollout(policy: LoadedPolicy, steps: int, seed: int = 0, env_spec: Any = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw observations, episode-start flags, actions the env received) over ``steps`` steps of real episodes."""
    recorder = _Recorder(make_env(env_spec if env_spec is not None else policy.config.env, seed=seed))
    env, _ = adapter_chain(recorder, list(policy.config.adapters))
    starts: list[float] = []
    try:
        episode = 0
        while len(recorder.obs) < steps:
            obs, _ = env.reset(seed=seed + episode)
            state, start, done = None, np.ones((1,), dtype=bool), False
            while not done and len(recorder.obs) < steps:
                action, state = policy.predict(obs, state=state, episode_start=start, deterministic=True)
                starts.append(float(start[0]))
                obs, _, terminated, truncated, _ = env.step(action)
                start = np.zeros((1,), dtype=bool)
                done = bool(terminated or truncated)
            episode += 1
    finally:
        env.close()
    obs = np.empty(len(recorder.obs), dtype=object) if recorder.obs and isinstance(recorder.obs[0], dict) else None
    if obs is not None:  # dict observations: an object array of dicts (exported_actions flattens each)
        obs[:] = recorder.obs
    return (np.asarray(recorder.obs) if obs is None else obs, np.asarray(starts, dtype=np.float32),
            np.asarray(recorder.actions))


def exported_actions(exported: ExportedPolicy, obs: np.ndarray, starts: np.ndarray) -> np.ndarray:
    out = []
    for x, s in zip(obs, starts):
        if s > 0.5:
            exported.reset()
        out.append(np.asarray(exported.act(x)))
    return np.asarray(out)


def check_parity(run: str | Path | LoadedPolicy, exported: str | Path | ExportedPolicy, *, steps: int = 1000,
                 seed: int = 0) -> dict[str, Any]:
    """``{"steps", "episodes", "max_abs_diff"}`` between the exported file and the framework's inference."""
    policy = run if isinstance(run, LoadedPolicy) else load_policy(run)
    exp = exported if isinstance(exported, ExportedPolicy) else ExportedPolicy(exported)
    obs, starts, ref = reference_rollout(policy, steps, seed)
    got = exported_actions(exp, obs, starts)
    diff = np.abs(got.astype(np.float64).reshape(len(ref), -1) - ref.astype(np.float64).reshape(len(ref), -1))
    return {"steps": int(len(ref)), "episodes": int(starts.sum()), "max_abs_diff": float(diff.max()),
            "backend": exp.backend}
