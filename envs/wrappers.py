"""Sensor and actuator wrappers: small, composable, seeded by ``reset(seed=...)`` through ``self.np_random``.

Each wrapper is one transformation on the narrowest gymnasium base class; ``WRAPPERS`` maps the short names
used in env specs (``wrappers: [{type: obs_noise, kwargs: {std: 0.01}}]``) to the classes.

>>> import gymnasium as gym, simtransfer.envs
>>> env = ActionRepeat(ObservationNoise(gym.make("simtransfer/CartPoleNominal-v0"), std=0.01), repeat=2)
>>> obs, info = env.reset(seed=0)
>>> obs.shape
(4,)
>>> env.close()
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.adversary import AdversaryControl, AdversaryForce
from simtransfer.envs.bullet import bullet_client
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.history import HistoryObservation
from simtransfer.envs.randomizer import PhysicsRandomizer
from simtransfer.envs.trial import TrialWrapper


def _box(space: gym.Space, what: str) -> gym.spaces.Box:
    if not isinstance(space, gym.spaces.Box):
        raise SimtransferError(f"{what} needs a Box space, got {type(space).__name__}")
    return space


def _scale(value: float | list[float], shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, shape[-1])):
        raise SimtransferError(f"{what}: expected a number or {shape[-1]} numbers, got {value!r}")
    if np.any(arr < 0):
        raise SimtransferError(f"{what}: must not be negative, got {value!r}")
    return np.array(np.broadcast_to(arr, shape))


class ObservationNoise(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Add zero-mean Gaussian noise (``std``: a number or one per dimension) to every observation.

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = ObservationNoise(gym.make("simtransfer/CartPoleNominal-v0"), std=0.05)
    """

    def __init__(self, env: gym.Env, std: float | list[float] = 0.01) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, std=std)
        gym.ObservationWrapper.__init__(self, env)
        box = _box(env.observation_space, "obs_noise")
        self.std = _scale(std, box.shape, "obs_noise std")

    def observation(self, observation: np.ndarray) -> np.ndarray:
        noisy = observation + self.np_random.normal(0.0, 1.0, size=observation.shape) * self.std
        return noisy.astype(observation.dtype)


class ObservationBias(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Add a constant bias, drawn once per episode from N(0, ``std``), to every observation (sensor offset)."""

    def __init__(self, env: gym.Env, std: float | list[float] = 0.01) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, std=std)
        gym.ObservationWrapper.__init__(self, env)
        box = _box(env.observation_space, "obs_bias")
        self.std = _scale(std, box.shape, "obs_bias std")
        self.bias = np.zeros(box.shape)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.bias = self.np_random.normal(0.0, 1.0, size=self.bias.shape) * self.std
        return self.observation(obs), info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return (observation + self.bias).astype(observation.dtype)


class ActionNoise(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Add Gaussian noise (``std``, in action units) to every continuous action, clipped to the action bounds."""

    def __init__(self, env: gym.Env, std: float | list[float] = 0.05) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, std=std)
        gym.ActionWrapper.__init__(self, env)
        box = _box(env.action_space, "action_noise")
        self.std = _scale(std, box.shape, "action_noise std")
        self._low, self._high = box.low, box.high

    def action(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64) + self.np_random.normal(0.0, 1.0, size=self.std.shape) * self.std
        return np.clip(a, self._low, self._high).astype(self.action_space.dtype)


class ActionLatency(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Delay actions by ``steps`` control steps; the first ``steps`` actions of an episode are a no-op
    (zeros for Box, ``noop`` for Discrete)."""

    def __init__(self, env: gym.Env, steps: int = 1, noop: int = 0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, steps=steps, noop=noop)
        gym.ActionWrapper.__init__(self, env)
        if int(steps) < 0:
            raise SimtransferError(f"action_latency: steps must be >= 0, got {steps}")
        space = env.action_space
        if isinstance(space, gym.spaces.Box):
            self._noop: Any = np.zeros(space.shape, dtype=space.dtype)
        elif isinstance(space, gym.spaces.Discrete):
            self._noop = np.int64(noop)
        else:
            raise SimtransferError(f"action_latency: unsupported action space {type(space).__name__}")
        self.steps = int(steps)
        self._queue: deque[Any] = deque()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._queue = deque([self._noop] * self.steps)
        return self.env.reset(seed=seed, options=options)

    def action(self, action: Any) -> Any:
        self._queue.append(action)
        return self._queue.popleft()


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat every action ``repeat`` times (summing rewards; stopping early when the episode ends)."""

    def __init__(self, env: gym.Env, repeat: int = 2) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)
        gym.Wrapper.__init__(self, env)
        if int(repeat) < 1:
            raise SimtransferError(f"action_repeat: repeat must be >= 1, got {repeat}")
        self.repeat = int(repeat)

    def step(self, action: Any):
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class RandomPush(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Push the robot: with probability ``prob`` per step, a horizontal force of up to ``force`` newtons in a
    random direction on a link (``link``: a link name; default the robot's root body), for ``duration`` steps.
    Pushes are reported in ``info["push"]`` (the force vector, world frame)."""

    def __init__(self, env: gym.Env, force: float = 50.0, prob: float = 0.02, duration: int = 1,
                 link: str | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, force=force, prob=prob, duration=duration, link=link)
        gym.Wrapper.__init__(self, env)
        if force < 0 or not 0 <= prob <= 1 or int(duration) < 1:
            raise SimtransferError("push: needs force >= 0, 0 <= prob <= 1 and duration >= 1")
        self.force, self.prob, self.duration, self.link = float(force), float(prob), int(duration), link
        self._target: tuple[int, int] | None = None
        self._left = 0
        self._vec = np.zeros(3)

    def _find_target(self) -> tuple[int, int]:
        p = bullet_client(self.env)
        robot = getattr(self.env.unwrapped, "robot", None)
        if self.link is None:
            root = getattr(robot, "robot_body", None)
            if root is not None:
                return root.bodies[root.bodyIndex], root.bodyPartIndex
        bodies = list(getattr(robot, "objects", None) or [p.getBodyUniqueId(i) for i in range(p.getNumBodies())])
        best, names = None, []
        for b in bodies:
            for j in range(-1, p.getNumJoints(b)):
                name = p.getBodyInfo(b)[0].decode() if j < 0 else p.getJointInfo(b, j)[12].decode()
                names.append(name)
                mass = p.getDynamicsInfo(b, j)[0]
                if self.link is not None and name == self.link:
                    return b, j
                if self.link is None and mass > 0 and (best is None or mass > best[0]):
                    best = (mass, b, j)
        if self.link is not None or best is None:
            raise SimtransferError(f"push: no link named {self.link!r} (links: {', '.join(sorted(set(names)))})")
        return best[1], best[2]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self._target is None:
            self._target = self._find_target()
        self._left = 0
        return obs, info

    def step(self, action: Any):
        pushed = None
        if self._target is not None:
            if self._left == 0 and self.np_random.random() < self.prob:
                angle = self.np_random.uniform(0, 2 * np.pi)
                mag = self.np_random.uniform(0, self.force)
                self._vec = np.array([np.cos(angle) * mag, np.sin(angle) * mag, 0.0])
                self._left = self.duration
            if self._left > 0:
                p = self.env.unwrapped._p
                body, link = self._target
                pos = p.getBasePositionAndOrientation(body)[0] if link < 0 else p.getLinkState(body, link)[0]
                p.applyExternalForce(body, link, self._vec.tolist(), pos, p.WORLD_FRAME)
                self._left -= 1
                pushed = self._vec.copy()
        obs, reward, terminated, truncated, info = self.env.step(action)
        if pushed is not None:
            info = dict(info)
            info["push"] = pushed
        return obs, reward, terminated, truncated, info


class ContextObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Append the current physical parameters (from the :class:`~simtransfer.envs.randomization.PhysicsRandomizer`
    below) to a flat Box observation, for context-conditioned policies; bounds are the parameters' valid
    bounds."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        inner: Any = env
        while not isinstance(inner, PhysicsRandomizer):
            if not isinstance(inner, gym.Wrapper):
                raise SimtransferError("context_obs needs a physics randomizer below it (a simtransfer env "
                                       "or a 'randomization' spec)")
            inner = inner.env
        self.randomizer = inner
        box = _box(env.observation_space, "context_obs")
        if len(box.shape) != 1:
            raise SimtransferError(f"context_obs needs a flat observation, got shape {box.shape}")
        params = inner.space.params
        low = np.concatenate([box.low, [p.valid[0] for p in params]]).astype(np.float32)
        high = np.concatenate([box.high, [p.valid[1] for p in params]]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        ctx = [self.randomizer.current_params[n] for n in self.randomizer.param_names]
        return np.concatenate([np.asarray(observation, dtype=np.float32), np.asarray(ctx, dtype=np.float32)])


WRAPPERS: dict[str, type[gym.Wrapper]] = {
    "obs_noise": ObservationNoise,
    "obs_bias": ObservationBias,
    "action_noise": ActionNoise,
    "action_latency": ActionLatency,
    "action_repeat": ActionRepeat,
    "push": RandomPush,
    "context_obs": ContextObservation,
    "history": HistoryObservation,
    "adversary_force": AdversaryForce,  # RARL (envs/adversary.py)
    "adversary_control": AdversaryControl,
    "trial": TrialWrapper,
}
