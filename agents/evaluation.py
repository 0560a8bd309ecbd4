"""Deterministic episode rollouts: episode ``i`` resets with ``seed + i``, actions are deterministic.

>>> from simtransfer.agents.evaluation import run_episodes
>>> returns = run_episodes(env, model, episodes=5, seed=0)     # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from simtransfer.agents.vecenv import ObsNormalizer
from simtransfer.envs.errors import SimtransferError

CVAR_ALPHA = 0.1  # every evaluation reports CVaR-10% next to the mean


def cvar(returns: Any, alpha: float = CVAR_ALPHA) -> float:
    """Conditional value at risk of episode returns: the mean of the worst ``ceil(alpha * n)`` episodes.

    Lower tail (returns are rewards): with 10 episodes, CVaR-10% is the single worst return; with 25, the
    mean of the worst 3. ``alpha=1`` is the mean.

    >>> cvar([10.0, 1.0, 7.0, 3.0, 9.0, 8.0, 6.0, 5.0, 4.0, 2.0])
    1.0
    >>> cvar([10.0, 1.0, 7.0, 3.0], alpha=0.5)
    2.0
    """
    arr = np.sort(np.asarray(returns, dtype=np.float64).ravel())
    if arr.size == 0:
        raise SimtransferError("CVaR needs at least one episode return")
    if not 0.0 < alpha <= 1.0:
        raise SimtransferError(f"CVaR alpha must be in (0, 1], got {alpha:g}")
    k = max(1, math.ceil(alpha * arr.size - 1e-9))
    return float(arr[:k].mean())


class RandomPolicy:
    """Uniformly random actions with the ``predict`` signature of an SB3 model: the "no skill" reference.

    >>> import gymnasium as gym
    >>> env = gym.make("CartPole-v1")
    >>> returns, _ = run_episodes(env, RandomPolicy(env.action_space, seed=0), episodes=2, seed=0)
    >>> len(returns)
    2
    """

    def __init__(self, action_space: Any, seed: int | None = None) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[Any, Any]:
        return self.action_space.sample(), state


@dataclass
class EvalResult:
    """Scores of one policy on one target."""

    target: str
    episodes: int
    mean_return: float
    std_return: float
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    cvar_10: float | None = None  # mean of the worst ceil(10%) of ``returns`` (filled in from them)

    def __post_init__(self) -> None:
        if self.cvar_10 is None and self.returns:
            self.cvar_10 = cvar(self.returns, CVAR_ALPHA)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_episodes(env: Any, model: Any, *, episodes: int, seed: int, normalizer: ObsNormalizer | None = None,
                 max_steps: int = 100_000) -> tuple[list[float], list[int]]:
    """Roll out ``episodes`` episodes of ``model`` (SB3 algorithm or policy) on a single gymnasium env.

    Deterministic given ``seed``: the env is reset with ``seed + i`` and actions are the policy's mode.
    Handles recurrent policies (LSTM state carried, reset at episode start). ``max_steps`` bounds an
    episode of an env that never truncates.
    """
    returns: list[float] = []
    lengths: list[int] = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        state = None
        start = np.ones((1,), dtype=bool)
        total, steps, done = 0.0, 0, False
        while not done:
            x = normalizer(obs) if normalizer is not None else obs
            action, state = model.predict(x, state=state, episode_start=start, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            start = np.zeros((1,), dtype=bool)
            done = bool(terminated or truncated) or steps >= max_steps
        returns.append(total)
        lengths.append(steps)
    return returns, lengths


def summarize(target: str, returns: list[float], lengths: list[int] | None = None) -> EvalResult:
    arr = np.asarray(returns, dtype=np.float64)
    return EvalResult(target=target, episodes=len(returns), mean_return=float(arr.mean()) if len(arr) else 0.0,
                      std_return=float(arr.std()) if len(arr) else 0.0, returns=[float(r) for r in returns],
                      lengths=list(lengths or []))
