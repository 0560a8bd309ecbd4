"""Meta-RL trials (RL², Duan et al. 2016; Wang et al. 2016): K episodes of one sampled environment as one episode.

:class:`TrialWrapper` makes a *trial* — ``episodes`` consecutive inner episodes of the same physics — look like
one episode to the learner, so a recurrent policy (``algo: recurrent_ppo``) keeps its LSTM state across the
inner episodes and can use what it learned about the dynamics in episode 1 to do better in episode K. The
physics randomizer below draws parameters at the trial's first reset only; the inner resets pass
``options={"keep_params": True}`` (:class:`simtransfer.envs.randomizer.PhysicsRandomizer`), so every inner
episode of a trial has the same masses, motor gain, delays, ...

Observation layout (flat float32 Box): ``[o_t, a_{t-1}, r_{t-1}, d_{t-1}]`` — the inner observation, the previous
action (Box: its values; Discrete: one-hot), the previous reward and a flag that is 1 on the first observation
of inner episodes 2..K (the previous inner episode has just ended). All three are 0 at the trial's start.

The trial ends (``terminated``/``truncated`` as the last inner episode ended) after ``episodes`` inner episodes;
inner episode ends are never reported as episode ends. ``info["trial_episode"]`` is the index (0-based) of the
inner episode a step belongs to; the step that ends an inner episode also has ``info["trial_episode_return"]``.

>>> import gymnasium as gym, simtransfer.envs
>>> env = TrialWrapper(gym.make("simtransfer/CartPole-v0"), episodes=2)
>>> env.observation_space.shape                       # 4 obs + 2 one-hot action + reward + done
(8,)
>>> obs, info = env.reset(seed=0)
>>> params, seen = info["params"], set()
>>> done = False
>>> while not done:
...     obs, r, terminated, truncated, info = env.step(env.action_space.sample())
...     seen.add(info["trial_episode"]); done = terminated or truncated
>>> sorted(seen), env.unwrapped_params() == params    # two inner episodes, one set of physics
([0, 1], True)
>>> env.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomizer import PhysicsRandomizer


def find_randomizer(env: gym.Env) -> PhysicsRandomizer | None:
    """The :class:`PhysicsRandomizer` below ``env`` in its wrapper chain, or None."""
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, PhysicsRandomizer):
            return inner
        inner = inner.env
    return None


class TrialWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """``episodes`` inner episodes of one sampled environment as one episode, with the previous action, reward
    and inner-episode-done flag appended to a flat Box observation (layout in the module docstring).

    Reward bounds are unbounded (``-inf, inf``); normalise observations (``normalize: true``) for learning.
    """

    def __init__(self, env: gym.Env, episodes: int = 3) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, episodes=episodes)
        gym.Wrapper.__init__(self, env)
        if int(episodes) < 1:
            raise SimtransferError(f"trial: episodes (K) must be >= 1, got {episodes}")
        obs_space = env.observation_space
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise SimtransferError(f"trial needs a flat Box observation, got {obs_space}")
        act = env.action_space
        if isinstance(act, gym.spaces.Box):
            self._discrete, act_dim = False, int(np.prod(act.shape))
            act_low, act_high = act.low.reshape(-1), act.high.reshape(-1)
        elif isinstance(act, gym.spaces.Discrete):
            self._discrete, act_dim = True, int(act.n)
            act_low, act_high = np.zeros(act_dim), np.ones(act_dim)
        else:
            raise SimtransferError(f"trial supports Box or Discrete actions, got {type(act).__name__}")
        self.episodes = int(episodes)
        self.act_dim = act_dim
        self.randomizer = find_randomizer(env)
        low = np.concatenate([obs_space.low, act_low, [-np.inf, 0.0]]).astype(np.float32)
        high = np.concatenate([obs_space.high, act_high, [np.inf, 1.0]]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.episode_index = 0
        self._return = 0.0

    def unwrapped_params(self) -> dict[str, float]:
        """The parameters the randomizer below applies now (empty without one)."""
        return {} if self.randomizer is None else dict(self.randomizer.current_params)

    def _augment(self, obs: Any, action: Any, reward: float, done: bool) -> np.ndarray:
        if action is None:
            act = np.zeros(self.act_dim, dtype=np.float32)
        elif self._discrete:
            act = np.zeros(self.act_dim, dtype=np.float32)
            act[int(action)] = 1.0
        else:
            act = np.asarray(action, dtype=np.float32).reshape(-1)
        return np.concatenate([np.asarray(obs, dtype=np.float32).reshape(-1), act,
                               np.asarray([reward, float(done)], dtype=np.float32)])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode_index, self._return = 0, 0.0
        info = dict(info)
        info["trial_episode"] = 0
        return self._augment(obs, None, 0.0, False), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["trial_episode"] = self.episode_index
        self._return += float(reward)
        if not (terminated or truncated):
            return self._augment(obs, action, float(reward), False), reward, False, False, info
        info["trial_episode_return"] = self._return
        if self.episode_index + 1 >= self.episodes:
            return self._augment(obs, action, float(reward), True), reward, terminated, truncated, info
        self.episode_index += 1
        self._return = 0.0
        keep = {"keep_params": True} if self.randomizer is not None else None
        obs, reset_info = self.env.reset(options=keep)
        info["trial_reset_info"] = reset_info
        return self._augment(obs, action, float(reward), True), reward, False, False, info
