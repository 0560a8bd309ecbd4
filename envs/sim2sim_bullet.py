"""Read the facts a MuJoCo target needs from the live PyBullet source task, instead of hand-typing them.

The Bullet tasks keep part of their definition in Python (``power`` per robot, ``power_coef`` per joint set in
``robot_specific_reset``, the pendulum forces hard-coded in ``apply_action``) and part in the MJCF that PyBullet
loaded (joint limits, which PyBullet reads itself). :func:`bullet_reference` builds the Bullet env once per
process and task, resets it, and records:

- the observation and action spaces (the target must expose exactly these);
- each ordered joint's name and the limits PyBullet uses to normalise its position;
- the torque each action dimension produces at ``a = 1`` (found by calling ``robot.apply_action`` on unit
  vectors with ``set_motor_torque`` recorded, so it is exactly what Bullet would command);
- for locomotion robots: the body whose pose and speed are observed, the foot parts, and the position of the
  floor part, which PyBullet counts among ``robot.parts`` when it averages their ``x, y``.

>>> ref = bullet_reference("Hopper")
>>> ref.joint_names, [round(t, 3) for t in ref.torque_per_action]
(('thigh_joint', 'leg_joint', 'foot_joint'), [75.0, 75.0, 75.0])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet ids)

from simtransfer.envs.errors import SimtransferError

#: Source task of each MuJoCo target: simtransfer task name -> PyBullet id.
BULLET_IDS: dict[str, str] = {
    "InvertedPendulum": "InvertedPendulumBulletEnv-v0",
    "InvertedDoublePendulum": "InvertedDoublePendulumBulletEnv-v0",
    "Hopper": "HopperBulletEnv-v0",
    "Walker2D": "Walker2DBulletEnv-v0",
    "HalfCheetah": "HalfCheetahBulletEnv-v0",
    "Ant": "AntBulletEnv-v0",
}


@dataclass(frozen=True)
class BulletReference:
    """What the Bullet source task defines, read from a live instance (see module docstring)."""

    task: str
    bullet_id: str
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Box
    joint_names: tuple[str, ...]
    """Bullet ``robot.ordered_joints`` names, in observation order."""
    joint_lower: np.ndarray
    joint_upper: np.ndarray
    action_joint: tuple[str, ...]
    """Name of the joint each action dimension drives."""
    torque_per_action: tuple[float, ...]
    """Torque (N m, or N for sliders) Bullet commands for ``a[i] = 1``: ``power * power_coef`` or the pendulum force."""
    body_name: str | None
    """Locomotion: the observed body (``robot.robot_body``); ``None`` for pendula."""
    foot_names: tuple[str, ...]
    """Locomotion: ``robot.foot_list`` (contact flags, in observation order)."""
    foot_joints: tuple[str, ...]
    """Locomotion: for each foot part, the nearest moving joint above it (names the same body in MuJoCo)."""
    extra_points: np.ndarray
    """World positions of non-robot parts PyBullet includes in ``robot.parts`` (the floor), shape (k, 3)."""
    timestep: float
    frame_skip: int
    gravity: float
    max_episode_steps: int | None


def _record_torques(robot: object, n_actions: int) -> np.ndarray:
    """Matrix (joints x actions) of the torque Bullet commands to each ordered joint for unit actions."""
    joints = list(robot.ordered_joints)  # type: ignore[attr-defined]
    log: dict[int, float] = {}
    originals = []
    for k, joint in enumerate(joints):
        originals.append(joint.__dict__.get("set_motor_torque"))
        joint.set_motor_torque = functools.partial(log.__setitem__, k)  # records instead of commanding
    try:
        matrix = np.zeros((len(joints), n_actions))
        for i in range(n_actions):
            log.clear()
            unit = np.zeros(n_actions, dtype=np.float32)
            unit[i] = 1.0
            robot.apply_action(unit)  # type: ignore[attr-defined]
            for k, torque in log.items():
                matrix[k, i] = float(torque)
    finally:
        for joint, original in zip(joints, originals, strict=True):
            if original is None:
                del joint.set_motor_torque
            else:
                joint.set_motor_torque = original
    return matrix


@functools.cache
def bullet_reference(task: str) -> BulletReference:
    """Probe the PyBullet source of ``task`` (cached per process; ~0.1–0.3 s the first time)."""
    if task not in BULLET_IDS:
        raise SimtransferError(f"no Bullet source for sim-to-sim task {task!r}; known: {', '.join(BULLET_IDS)}")

    bullet_id = BULLET_IDS[task]
    env = gym.make(bullet_id)
    try:
        env.reset(seed=0)
        raw = env.unwrapped
        robot = raw.robot  # type: ignore[attr-defined]
        joints = list(robot.ordered_joints)
        n_actions = int(env.action_space.shape[0])
        torques = _record_torques(robot, n_actions)
        action_joint, torque_per_action = [], []
        for i in range(n_actions):
            driven = np.flatnonzero(torques[:, i])
            if len(driven) != 1:
                raise SimtransferError(f"{bullet_id}: action {i} drives {len(driven)} joints; expected exactly one")
            action_joint.append(joints[driven[0]].joint_name)
            torque_per_action.append(float(torques[driven[0], i]))
        body = robot.robot_body if hasattr(robot, "foot_list") else None
        extra = [
            part.current_position()
            for name, part in robot.parts.items()
            if part.bodies[part.bodyIndex] not in np.atleast_1d(robot.objects)
        ] if body is not None else []
        scene = raw.scene  # type: ignore[attr-defined]
        return BulletReference(
            task=task,
            bullet_id=bullet_id,
            observation_space=env.observation_space,  # type: ignore[arg-type]
            action_space=env.action_space,  # type: ignore[arg-type]
            joint_names=tuple(j.joint_name for j in joints),
            joint_lower=np.array([j.lowerLimit for j in joints], dtype=np.float64),
            joint_upper=np.array([j.upperLimit for j in joints], dtype=np.float64),
            action_joint=tuple(action_joint),
            torque_per_action=tuple(torque_per_action),
            body_name=_part_name(robot, body) if body is not None else None,
            foot_names=tuple(getattr(robot, "foot_list", ())),
            foot_joints=tuple(_moving_joint_above(raw._p, robot.parts[f]) for f in getattr(robot, "foot_list", ())),
            extra_points=np.array(extra, dtype=np.float64).reshape(-1, 3),
            timestep=float(scene.timestep),
            frame_skip=int(scene.frame_skip),
            gravity=float(scene.cpp_world.gravity),
            max_episode_steps=env.spec.max_episode_steps if env.spec else None,
        )
    finally:
        env.close()


def _part_name(robot: object, part: object) -> str:
    for name, candidate in robot.parts.items():  # type: ignore[attr-defined]
        if candidate is part:
            return name
    raise SimtransferError("Bullet robot body is not among its parts")


def _moving_joint_above(client: object, part: object) -> str:
    """Name of the first non-fixed joint on the path from ``part``'s link up to the base."""
    body, link = part.bodies[part.bodyIndex], part.bodyPartIndex  # type: ignore[attr-defined]
    while link >= 0:
        info = client.getJointInfo(body, link)  # type: ignore[attr-defined]
        if info[2] != 4:  # not JOINT_FIXED
            return info[1].decode("utf8")
        link = info[16]  # parent link index
    raise SimtransferError("Bullet foot part has no moving joint above it")
