"""Adversarial disturbances for Robust Adversarial RL (Pinto et al. 2017): bounded forces and torques on named links.

Two views of one two-player game, each a plain gymnasium wrapper so the rest of the framework trains them like
any env:

* :class:`AdversaryForce` (the protagonist's view, ``type: adversary_force``): the env as it was, plus the
  forces a fixed adversary policy chooses each step (no adversary set: no force, the env is unchanged);
* :class:`AdversaryControl` (the adversary's view, ``type: adversary_control``): the action space is the
  disturbance (a Box in ``[-1, 1]``, scaled by ``max_force`` / ``max_torque``), a fixed protagonist acts in
  the env, and the reward is the protagonist's, negated (zero-sum).

The disturbance vector is, per link in ``links`` order, ``len(force_axes)`` force components then
``len(torque_axes)`` torque components (world frame, applied at the link's centre of mass through
``applyExternalForce`` / ``applyExternalTorque``). Links are found by name at the first ``reset`` (PyBullet
envs build their robot there); a name the robot does not have is a one-line error listing the names it has.

>>> import gymnasium as gym, numpy as np, simtransfer.envs
>>> env = AdversaryForce(gym.make("simtransfer/InvertedDoublePendulumNominal-v0"), links=["pole2"], max_force=5.0)
>>> env.set_adversary(lambda obs: np.ones(3, dtype=np.float32))       # always push +5 N along x, y and z
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
>>> info["disturbance"].tolist()
[5.0, 5.0, 5.0]
>>> env.close()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.envs.bullet import bullet_client
from simtransfer.envs.errors import SimtransferError

Policy = Callable[[Any], Any]
AXES = {"x": 0, "y": 1, "z": 2}


def _axes(axes: Sequence[str], what: str) -> list[int]:
    if any(a not in AXES for a in axes) or len(set(axes)) != len(axes):
        raise SimtransferError(f"{what}: expected distinct axes among x, y, z, got {list(axes)!r}")
    return [AXES[a] for a in axes]


def find_links(env: gym.Env, names: Sequence[str], what: str = "adversary") -> list[tuple[int, int]]:
    """``(body id, link index)`` of each named link of a PyBullet robot (index -1: a body's base); a missing
    name is a one-line error listing the names the robot has."""
    p = bullet_client(env)
    parts = getattr(getattr(env.unwrapped, "robot", None), "parts", None) or {}
    found = {name: (part.bodies[part.bodyIndex], part.bodyPartIndex) for name, part in parts.items()}
    if not found:  # not a pybullet_envs robot: every body and link in the world
        for b in (p.getBodyUniqueId(i) for i in range(p.getNumBodies())):
            found.setdefault(p.getBodyInfo(b)[0].decode(), (b, -1))
            for j in range(p.getNumJoints(b)):
                found.setdefault(p.getJointInfo(b, j)[12].decode(), (b, j))
    missing = [n for n in names if n not in found]
    if missing:
        raise SimtransferError(f"{what}: no link named {missing[0]!r} in {type(env.unwrapped).__name__} "
                               f"(links: {', '.join(sorted(found))})")
    return [found[n] for n in names]


class _Disturbance(gym.Wrapper):
    """Shared part of both views: the disturbance space and how a normalized disturbance reaches PyBullet."""

    kind = "adversary"  # the short name in env specs, for error messages

    def __init__(self, env: gym.Env, links: Sequence[str], max_force: float, max_torque: float | None,
                 force_axes: Sequence[str], torque_axes: Sequence[str]) -> None:
        gym.Wrapper.__init__(self, env)
        name = self.kind
        if isinstance(links, str) or not links:
            raise SimtransferError(f"{name}: 'links' must be a non-empty list of link names")
        if not max_force > 0 or (max_torque is not None and not max_torque > 0):
            raise SimtransferError(f"{name}: max_force and max_torque must be > 0 (got {max_force}, {max_torque})")
        self.links = list(links)
        self.max_force, self.max_torque = float(max_force), None if max_torque is None else float(max_torque)
        self._faxes = _axes(force_axes, f"{name} force_axes")
        self._taxes = _axes(torque_axes, f"{name} torque_axes") if max_torque is not None else []
        per_link = len(self._faxes) + len(self._taxes)
        if per_link == 0:
            raise SimtransferError(f"{name}: no force or torque axis to act on")
        self.disturbance_space = gym.spaces.Box(-1.0, 1.0, (per_link * len(self.links),), np.float32)
        scale = [self.max_force] * len(self._faxes) + [self.max_torque or 0.0] * len(self._taxes)
        self._scale = np.tile(np.asarray(scale, dtype=np.float64), len(self.links))
        self._targets: list[tuple[int, int]] = []
        self._obs: Any = None  # the latest observation: the fixed opponent acts on it

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._targets = find_links(self.env, self.links, f"{self.kind} links")  # a reset may rebuild the world
        self._obs = obs
        return obs, info

    def apply(self, normalized: Any) -> np.ndarray:
        """Apply a disturbance in ``[-1, 1]`` (clipped) for the next physics step; returns it in N / N·m."""
        raw = np.clip(np.asarray(normalized, dtype=np.float64).reshape(-1), -1.0, 1.0) * self._scale
        p = bullet_client(self.env)
        per_link = len(self._faxes) + len(self._taxes)
        for i, (body, link) in enumerate(self._targets):
            chunk = raw[i * per_link:(i + 1) * per_link]
            force, torque = np.zeros(3), np.zeros(3)
            force[self._faxes] = chunk[:len(self._faxes)]
            torque[self._taxes] = chunk[len(self._faxes):]
            pos = p.getBasePositionAndOrientation(body)[0] if link < 0 else p.getLinkState(body, link)[0]
            p.applyExternalForce(body, link, force.tolist(), pos, p.WORLD_FRAME)
            if self._taxes:
                p.applyExternalTorque(body, link, torque.tolist(), p.WORLD_FRAME)
        return raw


class AdversaryForce(_Disturbance, gym.utils.RecordConstructorArgs):
    """The protagonist's view: each step, before the env steps, the adversary policy set with
    :meth:`set_adversary` (observation → disturbance in ``[-1, 1]``) pushes the named links; without one
    the env is unchanged. The applied disturbance (N, N·m) is in ``info["disturbance"]``.

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = AdversaryForce(gym.make("simtransfer/HopperNominal-v0"), links=["torso"], max_force=20.0)
    >>> env.disturbance_space.shape
    (3,)
    """

    kind = "adversary_force"

    def __init__(self, env: gym.Env, links: Sequence[str] = ("torso",), max_force: float = 10.0,
                 max_torque: float | None = None, force_axes: Sequence[str] = ("x", "y", "z"),
                 torque_axes: Sequence[str] = ("x", "y", "z")) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, links=list(links), max_force=max_force, max_torque=max_torque,
                                                 force_axes=list(force_axes), torque_axes=list(torque_axes))
        _Disturbance.__init__(self, env, links, max_force, max_torque, force_axes, torque_axes)
        self.adversary: Policy | None = None

    def set_adversary(self, policy: Policy | None) -> None:
        """The policy that chooses the disturbance from the protagonist's observation (None: no disturbance)."""
        self.adversary = policy

    def step(self, action: Any):
        applied = None
        if self.adversary is not None and self._obs is not None:
            applied = self.apply(self.adversary(self._obs))
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        if applied is not None:
            info = dict(info)
            info["disturbance"] = applied
        return obs, reward, terminated, truncated, info


class AdversaryControl(_Disturbance, gym.utils.RecordConstructorArgs):
    """The adversary's view: the action is the disturbance (``[-1, 1]`` per component), the protagonist set
    with :meth:`set_protagonist` (observation → env action) acts, the reward is the protagonist's negated
    (``info["protagonist_reward"]`` keeps it). Without a protagonist it acts with zero actions.

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = AdversaryControl(gym.make("simtransfer/HopperNominal-v0"), links=["torso", "foot"], max_force=5.0,
    ...                        max_torque=1.0, force_axes=["x", "z"], torque_axes=["y"])
    >>> env.action_space.shape                       # (2 forces + 1 torque) per link
    (6,)
    """

    kind = "adversary_control"

    def __init__(self, env: gym.Env, links: Sequence[str] = ("torso",), max_force: float = 10.0,
                 max_torque: float | None = None, force_axes: Sequence[str] = ("x", "y", "z"),
                 torque_axes: Sequence[str] = ("x", "y", "z")) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, links=list(links), max_force=max_force, max_torque=max_torque,
                                                 force_axes=list(force_axes), torque_axes=list(torque_axes))
        _Disturbance.__init__(self, env, links, max_force, max_torque, force_axes, torque_axes)
        self.action_space = self.disturbance_space
        self.protagonist: Policy | None = None

    def set_protagonist(self, policy: Policy | None) -> None:
        """The fixed policy that acts in the env (observation → action); None: zero actions."""
        self.protagonist = policy

    def step(self, action: Any):
        applied = self.apply(action)
        space = self.env.action_space
        act = self.protagonist(self._obs) if self.protagonist is not None else np.zeros(space.shape, space.dtype)
        obs, reward, terminated, truncated, info = self.env.step(act)
        self._obs = obs
        info = dict(info)
        info["disturbance"], info["protagonist_reward"] = applied, float(reward)
        return obs, -float(reward), terminated, truncated, info
