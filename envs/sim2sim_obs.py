"""Observation adapters: compute the PyBullet observation layout from a MuJoCo model's state.

Each layout reads ``mujoco.MjData`` (positions, velocities, contacts) and returns the vector the Bullet task's
``calc_state`` would return for the same physical state. Field by field (see ``docs/targets.md``):

- :class:`PendulumLayout` (InvertedPendulum, 5): ``x, vx, cos θ, sin θ, θ̇`` from the slider and hinge joints.
- :class:`DoublePendulumLayout` (InvertedDoublePendulum, 9): ``x, vx, pole2 x, cos θ, sin θ, θ̇, cos γ, sin γ, γ̇``.
- :class:`WalkerLayout` (Hopper 15, Walker2D 22, HalfCheetah 26, Ant 28): height relative to the first
  observation, sin/cos of the angle to the walk target, body velocity rotated into the yaw frame and scaled by
  0.3, roll and pitch, joint positions normalised to the Bullet limits and joint speeds ×0.1, foot contacts
  (one step late, as in Bullet), the whole clipped to ±5.

>>> import gymnasium as gym, simtransfer.envs.sim2sim as s2s
>>> ids = s2s.register_sim2sim_envs()
>>> env = gym.make("simtransfer/HopperMuJoCo-v0")
>>> env.reset(seed=0)[0].shape
(15,)
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.sim2sim_bullet import BulletReference

#: PyBullet's walk target (``WalkerBase.walk_target_x/y``): 1 km ahead along +x.
WALK_TARGET_XY = (1e3, 0.0)


def rpy_from_quat(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    """Roll, pitch, yaw as ``pybullet.getEulerFromQuaternion`` returns them (Bullet's ``getEulerZYX``)."""
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def _joint(model: mujoco.MjModel, name: str) -> tuple[int, int]:
    """(qpos address, dof address) of the MuJoCo joint called ``name``."""
    try:
        joint = model.joint(name)
    except KeyError as exc:
        raise SimtransferError(f"MuJoCo model has no joint {name!r} (needed for the Bullet layout)") from exc
    return int(joint.qposadr[0]), int(joint.dofadr[0])


class PendulumLayout:
    """InvertedPendulumBulletEnv layout: ``[x, vx, cos θ, sin θ, θ̇]`` (``robot_pendula.InvertedPendulum``)."""

    def __init__(self, model: mujoco.MjModel, ref: BulletReference) -> None:
        self.slider = _joint(model, "slider")
        self.hinge = _joint(model, "hinge")

    def reset(self, data: mujoco.MjData) -> np.ndarray:
        return self.observe(data)

    def observe(self, data: mujoco.MjData) -> np.ndarray:
        theta = data.qpos[self.hinge[0]]
        return np.array(
            [data.qpos[self.slider[0]], data.qvel[self.slider[1]], math.cos(theta), math.sin(theta),
             data.qvel[self.hinge[1]]],
            dtype=np.float32,
        )


class DoublePendulumLayout:
    """InvertedDoublePendulumBulletEnv layout: ``[x, vx, pole2_x, cos θ, sin θ, θ̇, cos γ, sin γ, γ̇]``.

    ``pole2_x`` is the world x of the second pole's centre of mass (Bullet ``pole2.pose().xyz()[0]``).
    """

    def __init__(self, model: mujoco.MjModel, ref: BulletReference) -> None:
        self.slider = _joint(model, "slider")
        self.hinge = _joint(model, "hinge")
        self.hinge2 = _joint(model, "hinge2")
        self.pole2 = int(model.body("pole2").id)

    def reset(self, data: mujoco.MjData) -> np.ndarray:
        return self.observe(data)

    def observe(self, data: mujoco.MjData) -> np.ndarray:
        theta, gamma = data.qpos[self.hinge[0]], data.qpos[self.hinge2[0]]
        return np.array(
            [data.qpos[self.slider[0]], data.qvel[self.slider[1]], data.xipos[self.pole2, 0],
             math.cos(theta), math.sin(theta), data.qvel[self.hinge[1]],
             math.cos(gamma), math.sin(gamma), data.qvel[self.hinge2[1]]],
            dtype=np.float32,
        )


class WalkerLayout:
    """``WalkerBase.calc_state`` layout: ``more (8) + joints (2 per joint) + feet contacts``, clipped to ±5.

    ``more = [z - z0, sin(angle_to_target), cos(angle_to_target), 0.3 vx, 0.3 vy, 0.3 vz, roll, pitch]``, where
    ``z`` is the observed body's centre-of-mass height, ``z0`` its value at the first observation after reset,
    ``(vx, vy, vz)`` its centre-of-mass velocity rotated by ``-yaw``, and the angle to target is
    ``atan2(ty - y, tx - x) - yaw`` with ``(x, y)`` the mean over the robot's parts, as Bullet computes it.
    """

    def __init__(self, model: mujoco.MjModel, ref: BulletReference) -> None:
        if ref.body_name is None:
            raise SimtransferError(f"{ref.bullet_id} is not a locomotion task")
        self.model = model
        self.body = int(model.body(ref.body_name).id)
        addresses = [_joint(model, name) for name in ref.joint_names]
        self.qpos_idx = np.array([a[0] for a in addresses])
        self.qvel_idx = np.array([a[1] for a in addresses])
        self.mid = 0.5 * (ref.joint_lower + ref.joint_upper)
        self.half_range = 0.5 * (ref.joint_upper - ref.joint_lower)
        # Bullet averages x, y over robot.parts: one link per body (its centre of mass), one massless link per
        # moving joint (at the joint), and the floor. MuJoCo equivalents: body COMs, joint anchors, floor point.
        free = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
        if free not in ([], [0]):
            raise SimtransferError("MuJoCo model must have at most one free joint, the first (the floating base)")
        self.first_moving_joint = len(free)
        self.extra_xy_sum = ref.extra_points[:, :2].sum(axis=0)
        self.n_parts = (model.nbody - 1) + (model.njnt - len(free)) + len(ref.extra_points)
        foot_bodies = [int(model.jnt_bodyid[model.joint(name).id]) for name in ref.foot_joints]
        self.foot_of_body = np.full(model.nbody, -1, dtype=int)
        self.foot_of_body[foot_bodies] = np.arange(len(foot_bodies))
        try:
            self.floor_geom = int(model.geom("floor").id)
        except KeyError as exc:
            raise SimtransferError("MuJoCo model has no geom named 'floor' (needed for foot contacts)") from exc
        self.n_joints = len(self.qpos_idx)
        self._state = np.zeros(8 + 2 * self.n_joints + len(foot_bodies))
        self._velocity = np.zeros(6)
        self.initial_z = 0.0
        self.feet_contact = np.zeros(len(foot_bodies), dtype=np.float32)

    def reset(self, data: mujoco.MjData) -> np.ndarray:
        """Observation right after reset: sets ``z0`` and clears the contact flags, like Bullet's reset."""
        self.initial_z = float(data.xipos[self.body, 2])
        self.feet_contact[:] = 0.0
        return self.observe(data, update_contacts=False)

    def contacts(self, data: mujoco.MjData) -> np.ndarray:
        """1.0 for each foot body touching the floor in ``data.contact``, else 0.0."""
        flags = np.zeros(len(self.feet_contact), dtype=np.float32)
        if data.ncon:
            geoms = data.contact.geom[: data.ncon]
            with_floor = geoms[(geoms == self.floor_geom).any(axis=1)]
            feet = self.foot_of_body[self.model.geom_bodyid[with_floor.sum(axis=1) - self.floor_geom]]
            flags[feet[feet >= 0]] = 1.0
        return flags

    def body_xy(self, data: mujoco.MjData) -> tuple[float, float]:
        """Mean ``x, y`` over the parts Bullet averages (``WalkerBase.calc_state`` ``body_xyz``)."""
        total = (data.xipos[1:, :2].sum(axis=0) + data.xanchor[self.first_moving_joint :, :2].sum(axis=0)
                 + self.extra_xy_sum).tolist()
        return total[0] / self.n_parts, total[1] / self.n_parts

    def observe(self, data: mujoco.MjData, update_contacts: bool = True) -> np.ndarray:
        """The Bullet observation; with ``update_contacts`` the flags shown are those of the previous call."""
        w, qx, qy, qz = data.xquat[self.body].tolist()  # Python floats: scalar math on them is ~5x faster
        roll, pitch, yaw = rpy_from_quat(w, qx, qy, qz)
        x, y = self.body_xy(data)
        z = data.xipos[self.body, 2].item()
        angle = math.atan2(WALK_TARGET_XY[1] - y, WALK_TARGET_XY[0] - x) - yaw
        mujoco.mj_objectVelocity(self.model, data, mujoco.mjtObj.mjOBJ_BODY, self.body, self._velocity, 0)
        vxw, vyw, vzw = self._velocity[3:].tolist()
        c, s = math.cos(-yaw), math.sin(-yaw)
        state, n = self._state, self.n_joints
        state[:8] = (z - self.initial_z, math.sin(angle), math.cos(angle),
                     0.3 * (c * vxw - s * vyw), 0.3 * (s * vxw + c * vyw), 0.3 * vzw, roll, pitch)
        state[8 : 8 + 2 * n : 2] = (data.qpos[self.qpos_idx] - self.mid) / self.half_range
        state[9 : 9 + 2 * n : 2] = 0.1 * data.qvel[self.qvel_idx]
        state[8 + 2 * n :] = self.feet_contact
        if update_contacts:
            self.feet_contact = self.contacts(data)
        return np.clip(state, -5.0, 5.0).astype(np.float32)


LAYOUTS = {
    "InvertedPendulum": PendulumLayout,
    "InvertedDoublePendulum": DoublePendulumLayout,
    "Hopper": WalkerLayout,
    "Walker2D": WalkerLayout,
    "HalfCheetah": WalkerLayout,
    "Ant": WalkerLayout,
}
