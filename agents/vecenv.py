"""Training and evaluation environments built from config: env spec → adapters → Monitor (→ VecNormalize).

>>> from simtransfer.agents.vecenv import make_single_env
>>> env = make_single_env({"id": "CartPole-v1"}, [], seed=0)     # doctest: +SKIP
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnvWrapper, VecNormalize

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.multitask import RANGE_ATTRS, MultiTaskEnv, check_task_spaces
from simtransfer.envs.spec import EnvSpec, WrapperSpec, apply_wrappers, make_env, parse_env_spec


class EpisodeParams(gym.Wrapper):
    """Copy ``info["params"]`` from ``reset`` into the last step's info as ``info["episode_params"]``.

    Vectorized envs auto-reset, so the reset info of an episode is gone by the time it ends; this keeps the
    randomization parameters an episode ran with next to its return, for logging.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._params: dict[str, float] | None = None

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        params = info.get("params")
        self._params = dict(params) if isinstance(params, dict) else None
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and self._params is not None:
            info = dict(info)
            info["episode_params"] = self._params
        return obs, reward, terminated, truncated, info


class FiniteObservations(gym.Wrapper):
    """A one-line :class:`~simtransfer.envs.errors.SimtransferError` naming the env and the step when an observation holds
    NaN or inf (instead of a two-line crash deep inside the policy's distribution). Integer spaces (images)
    are not checked."""

    def __init__(self, env: gym.Env, name: str) -> None:
        super().__init__(env)
        self.name, self._step = name, 0
        space = env.observation_space
        boxes = space.spaces.values() if isinstance(space, gym.spaces.Dict) else [space]
        self._checked = any(np.issubdtype(b.dtype, np.floating) for b in boxes if b.dtype is not None)

    def _check(self, obs: Any) -> None:
        if isinstance(obs, dict):
            ok = all(np.isfinite(v).all() for v in obs.values())
        else:
            ok = np.isfinite(obs).all()
        if not ok:
            where = "on reset" if self._step == 0 else f"at step {self._step} of an episode"
            raise SimtransferError(f"env '{self.name}' returned a non-finite observation (NaN or inf) {where}")

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._step = 0
        if self._checked:
            self._check(obs)
        return obs, info

    def step(self, action: Any):
        out = self.env.step(action)
        self._step += 1
        if self._checked:
            self._check(out[0])
        return out


def make_single_env(spec: str | dict[str, Any] | EnvSpec, adapters: list[WrapperSpec] | list[dict[str, Any]],
                    *, seed: int | None = None, monitor: bool = False) -> gym.Env:
    """One env the policy acts in: the spec's env, then the config's adapters (then a Monitor if asked)."""
    spec = parse_env_spec(spec)
    env = make_env(spec, seed=seed)
    env = EpisodeParams(env)
    env = apply_wrappers(env, [w if isinstance(w, WrapperSpec) else WrapperSpec(**w) for w in adapters])
    env = FiniteObservations(env, spec.name or spec.id)  # what the policy sees
    if monitor:
        env = Monitor(env)
    return env


def _factory(spec: dict[str, Any], adapters: list[dict[str, Any]], seed: int) -> gym.Env:
    # module level (picklable) so SubprocVecEnv workers can build envs (importing this module imports
    # simtransfer.envs, which registers our ids)
    return make_single_env(spec, adapters, seed=seed, monitor=True)


def make_mixed_env(specs: list[dict[str, Any]], names: list[str], adapters: list[dict[str, Any]],
                   seed: int | None = None, monitor: bool = False) -> gym.Env:
    """A :class:`~simtransfer.envs.multitask.MultiTaskEnv` over the task specs, each with the adapters."""
    env: gym.Env = MultiTaskEnv([functools.partial(make_single_env, s, adapters, seed=seed) for s in specs], names)
    return Monitor(env) if monitor else env


def multitask_eval_envs(config: Any, *, seed: int) -> dict[str, gym.Env]:
    """Evaluation envs of a multi-task config: ``"train"`` (the tasks mixed, if ``eval.train``) and one per task."""
    mt = config.multitask
    specs = [mt.labelled(i) for i in range(len(mt.tasks))]
    envs: dict[str, gym.Env] = {}
    if config.eval.train:
        envs["train"] = make_mixed_env([s.model_dump() for s in specs], mt.names, config.adapters, seed=seed)
    for name, spec in zip(mt.names, specs, strict=True):
        envs[name] = make_single_env(spec, config.adapters, seed=seed)
    return envs


def _training_fns(config: Any, adapters: list[dict[str, Any]], base_seed: int) -> list[Any]:
    mt = config.multitask
    if mt is None:
        spec = parse_env_spec(config.env).model_dump()
        return [functools.partial(_factory, spec, adapters, base_seed + i) for i in range(config.n_envs)]
    specs = [mt.labelled(i).model_dump() for i in range(len(mt.tasks))]
    if mt.mixing == "round_robin":  # env i runs task i mod K (n_envs >= K is validated with the config)
        return [functools.partial(_factory, specs[i % len(specs)], adapters, base_seed + i)
                for i in range(config.n_envs)]
    return [functools.partial(make_mixed_env, specs, mt.names, adapters, base_seed + i, True)
            for i in range(config.n_envs)]


def make_training_env(config: Any, *, seed: int | None = None) -> Any:
    """The vectorized training env of a :class:`~simtransfer.experiments.config.TrainConfig` (VecNormalize if enabled)."""
    base_seed = config.seed if seed is None else seed
    adapters = [a.model_dump() for a in config.adapters]
    fns = _training_fns(config, adapters, base_seed)
    if config.vec_env == "subproc" and config.n_envs > 1:
        venv = SubprocVecEnv(fns)
    else:
        venv = DummyVecEnv(fns)
    if config.multitask is not None and config.multitask.mixing == "round_robin":
        k = len(config.multitask.tasks)
        try:
            check_task_spaces(config.multitask.names, venv.get_attr("observation_space")[:k],
                              venv.get_attr("action_space")[:k])
            if any(any(venv.env_method("has_wrapper_attr", a)) for a in RANGE_ATTRS):  # every env, not env 0
                raise SimtransferError("multitask: a task uses ADR or a curriculum, which multi-task training does "
                                       "not drive; give the task a fixed randomization")
        except SimtransferError:
            venv.close()
            raise
    venv.seed(base_seed)
    norm = config.normalize
    if norm.enabled:
        venv = VecNormalize(venv, norm_obs=norm.norm_obs, norm_reward=norm.norm_reward, clip_obs=norm.clip_obs,
                            clip_reward=norm.clip_reward, gamma=float(config.hyperparams.get("gamma", 0.99)))
    return venv


def find_vec_normalize(venv: Any) -> Any:
    """The ``VecNormalize`` layer of a VecEnv stack, or None."""
    while venv is not None:
        if isinstance(venv, VecNormalize):
            return venv
        venv = venv.venv if isinstance(venv, VecEnvWrapper) else None
    return None


class ObsNormalizer:
    """Frozen VecNormalize observation statistics, applied to single (unbatched or batched) observations."""

    def __init__(self, mean: Any, var: Any, *, clip_obs: float, epsilon: float) -> None:
        self.mean, self.var, self.clip_obs, self.epsilon = mean, var, float(clip_obs), float(epsilon)

    @classmethod
    def from_vec_normalize(cls, vn: Any) -> ObsNormalizer | None:
        if vn is None or not vn.norm_obs:
            return None
        rms = vn.obs_rms
        if isinstance(rms, dict):
            mean = {k: r.mean.copy() for k, r in rms.items()}
            var = {k: r.var.copy() for k, r in rms.items()}
        else:
            mean, var = rms.mean.copy(), rms.var.copy()
        return cls(mean, var, clip_obs=vn.clip_obs, epsilon=vn.epsilon)

    def _one(self, obs: Any, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        out = (np.asarray(obs, dtype=np.float64) - mean) / np.sqrt(var + self.epsilon)
        return np.clip(out, -self.clip_obs, self.clip_obs).astype(np.float32)

    def __call__(self, obs: Any) -> Any:
        if isinstance(self.mean, dict):
            return {k: self._one(obs[k], self.mean[k], self.var[k]) if k in self.mean else obs[k] for k in obs}
        return self._one(obs, self.mean, self.var)
