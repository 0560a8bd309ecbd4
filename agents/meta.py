"""Meta-testing: the adaptation curve — a policy's return per episode index of a trial on one sampled target.

A *trial* is K consecutive episodes of one sampled environment (the physics randomizer keeps its parameters
across them, :class:`simtransfer.envs.trial.TrialWrapper`). For an RL² policy (its run's adapters hold a
``trial`` wrapper) the LSTM state is carried through the whole trial, so episode K can use what episode 1
revealed. Any other policy is run on the same K episodes of the same physics with its state reset at every
episode start (a history stack or an LSTM remembers within one episode only): its curve is flat up to noise.
Trial ``i`` resets with ``seed + i``; actions are deterministic.

>>> from simtransfer.agents.meta import adaptation_curve
>>> curve = adaptation_curve("runs/rl2", "simtransfer/InvertedPendulumExtrap-v0", trials=10)  # doctest: +SKIP
>>> curve.mean_per_episode                                                                   # doctest: +SKIP
[412.0, 655.3, 701.9]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simtransfer.agents.policy_io import LoadedPolicy, check_env_spaces, load_policy
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, WrapperSpec, parse_env_spec
from simtransfer.envs.trial import TrialWrapper

TRIAL_TYPES = ("trial", "simtransfer.envs.trial:TrialWrapper")


@dataclass
class AdaptationCurve:
    """Returns per trial and per episode index of the trial (``returns[i][k]``: trial ``i``, episode ``k``)."""

    target: str
    trial_episodes: int
    trials: int
    meta: bool
    returns: list[list[float]] = field(default_factory=list)

    @property
    def mean_per_episode(self) -> list[float]:
        return [float(x) for x in np.asarray(self.returns, dtype=np.float64).mean(axis=0)]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean_per_episode": self.mean_per_episode}


def trial_adapter(policy: LoadedPolicy) -> WrapperSpec | None:
    """The run's ``trial`` adapter (an RL² policy), or None."""
    found = [a for a in policy.config.adapters if a.type in TRIAL_TYPES]
    return found[-1] if found else None


def _adapters(policy: LoadedPolicy, episodes: int | None) -> tuple[list[WrapperSpec], int | None]:
    """The run's adapters with the trial adapter's K replaced by ``episodes`` (if given)."""
    adapters, k = [], None
    for a in policy.config.adapters:
        if a.type in TRIAL_TYPES:
            k = int(episodes if episodes is not None else a.kwargs.get("episodes", 3))
            a = WrapperSpec(type=a.type, kwargs={**a.kwargs, "episodes": k})
        adapters.append(a)
    return adapters, k


def _act(policy: LoadedPolicy, obs: Any, state: Any, start: bool) -> tuple[Any, Any]:
    x = policy.normalizer(obs) if policy.normalizer is not None else obs
    return policy.model.predict(x, state=state, episode_start=np.array([start]), deterministic=True)


def _meta_trial(policy: LoadedPolicy, env: Any, seed: int, k: int, max_steps: int) -> list[float]:
    obs, _ = env.reset(seed=seed)
    state, start, returns, total, steps = None, True, [], 0.0, 0
    while True:
        action, state = _act(policy, obs, state, start)
        start = False
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        if "trial_episode_return" in info or steps >= max_steps:
            returns.append(total)
            total, steps = 0.0, 0
        if terminated or truncated or len(returns) >= k:
            return returns


def _reactive_trial(policy: LoadedPolicy, env: Any, seed: int, k: int, max_steps: int) -> list[float]:
    returns = []
    for episode in range(k):
        obs, _ = env.reset(seed=seed) if episode == 0 else env.reset(options={"keep_params": True})
        state, start, total, steps, done = None, True, 0.0, 0, False
        while not done:
            action, state = _act(policy, obs, state, start)
            start = False
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            done = bool(terminated or truncated) or steps >= max_steps
        returns.append(total)
    return returns


def adaptation_curve(run: str | Path | LoadedPolicy, target_spec: str | dict[str, Any] | EnvSpec, *,
                     episodes: int | None = None, trials: int = 10, seed: int = 0,
                     max_steps: int = 100_000) -> AdaptationCurve:
    """Run ``trials`` trials of ``episodes`` (K) episodes on ``target_spec``; K defaults to the RL² run's own.

    :param run: a run directory or a loaded policy (RL² or any other)
    :param episodes: K, episodes per trial (required for a policy trained without a trial adapter)
    :param trials: trials (each a fresh sample of the target's physics); trial ``i`` resets with ``seed + i``
    :param max_steps: bound on one episode of an env that never truncates
    """
    if episodes is not None and int(episodes) < 1:
        raise SimtransferError(f"trial episodes (K) must be >= 1, got {episodes}")
    if int(trials) < 1:
        raise SimtransferError(f"trials must be at least 1, got {trials}")
    policy = run if isinstance(run, LoadedPolicy) else load_policy(run)
    adapters, k = _adapters(policy, episodes)
    meta = k is not None
    if k is None:
        if episodes is None:
            raise SimtransferError(f"the policy in {policy.run_dir} was not trained on trials: give the number of "
                                   "episodes per trial (--trial-episodes K)")
        k = int(episodes)
    spec = parse_env_spec(target_spec)
    env = make_single_env(spec, adapters, seed=seed)
    try:
        check_env_spaces(policy, env, spec.id)
        if meta and not isinstance(_find_trial(env), TrialWrapper):
            raise SimtransferError(f"no trial wrapper on target '{spec.id}'")
        one = _meta_trial if meta else _reactive_trial
        returns = [one(policy, env, seed + i, k, max_steps) for i in range(int(trials))]
    finally:
        env.close()
    return AdaptationCurve(target=spec.name or spec.id, trial_episodes=k, trials=int(trials), meta=meta,
                           returns=returns)


def _find_trial(env: Any) -> TrialWrapper | None:
    while env is not None:
        if isinstance(env, TrialWrapper):
            return env
        env = getattr(env, "env", None)
    return None
