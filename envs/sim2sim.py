"""Sim-to-sim targets: Gymnasium MuJoCo (``*-v5``) tasks seen through the PyBullet source's spaces.

``simtransfer/<Task>MuJoCo-v0`` (Task in InvertedPendulum, InvertedDoublePendulum, Hopper, Walker2D,
HalfCheetah, Ant) runs the MuJoCo v5 task unchanged (its dynamics, reward, termination and reset noise) but
exposes exactly the observation and action spaces of ``<Task>BulletEnv-v0``, so a Bullet-trained policy is
evaluated on it as is::

    simtransfer evaluate RUN --target simtransfer/HopperMuJoCo-v0

- Observations: :mod:`simtransfer.envs.sim2sim_obs` computes the Bullet layout field by field from ``MjData``.
- Actions: Bullet commands ``torque = power * power_coef * clip(a, -1, 1)``; MuJoCo applies
  ``ctrl * gear``. :class:`ActionMap` reads both numbers (Bullet from the live source via
  :func:`simtransfer.envs.sim2sim_bullet.bullet_reference`, MuJoCo from ``model.actuator_gear``), routes each action to the
  actuator of the same joint and sets ``ctrl = a * torque_bullet / gear``. Where that exceeds the MuJoCo
  ``ctrlrange`` (Ant: 250/150, HalfCheetah fthigh: 126/120) the range is widened so torques match
  (``match_torque=False`` keeps MuJoCo's limits, which then clamp).
- ``info`` carries ``sim="mujoco"``, ``source`` (the Bullet id) and ``params`` (timestep, frame skip, control
  period, gravity), next to MuJoCo's own entries.

Extra keyword arguments go to the MuJoCo v5 constructor (``frame_skip``, ``reset_noise_scale``, ...).

>>> import gymnasium as gym
>>> ids = register_sim2sim_envs()
>>> env = gym.make("simtransfer/InvertedPendulumMuJoCo-v0")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, info["sim"], env.action_space.shape
((5,), 'mujoco', (1,))
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.registry import register_sim2sim_envs
from simtransfer.envs.sim2sim_bullet import BULLET_IDS, BulletReference, bullet_reference
from simtransfer.envs.tasks import MUJOCO_IDS, SIM2SIM_TASKS, target_id

TASKS: tuple[str, ...] = SIM2SIM_TASKS

if TYPE_CHECKING:  # mujoco loads only when a MuJoCo target is built, not at registration
    import mujoco

class ActionMap:
    """Bullet action ``a`` (in the Bullet action order) → MuJoCo ``ctrl`` giving the same joint torques.

    ``ctrl[k] = scale[k] * clip(a, -1, 1)[index[k]]`` with ``scale[k] = bullet_torque / (gear * gain)`` of
    the joint actuator ``k`` drives.
    """

    def __init__(self, model: mujoco.MjModel, ref: BulletReference, match_torque: bool = True) -> None:
        import mujoco

        by_joint = {name: i for i, name in enumerate(ref.action_joint)}
        index, scale = [], []
        for k in range(model.nu):
            if model.actuator_trntype[k] != mujoco.mjtTrn.mjTRN_JOINT:
                raise SimtransferError(f"MuJoCo actuator {k} of {ref.task} does not drive a joint")
            joint = model.joint(int(model.actuator_trnid[k, 0])).name
            if joint not in by_joint:
                raise SimtransferError(f"MuJoCo actuator on joint {joint!r} has no Bullet action in {ref.bullet_id}")
            i = by_joint[joint]
            gain = float(model.actuator_gainprm[k, 0]) * float(model.actuator_gear[k, 0])
            index.append(i)
            scale.append(ref.torque_per_action[i] / gain)
        if sorted(index) != list(range(len(ref.action_joint))):
            raise SimtransferError(f"Bullet actions of {ref.bullet_id} do not map one-to-one onto MuJoCo actuators")
        self.index = np.array(index, dtype=int)
        self.scale = np.array(scale, dtype=np.float64)
        self.widened: dict[int, tuple[float, float]] = {}
        if match_torque:
            for k, s in enumerate(np.abs(self.scale)):
                low, high = model.actuator_ctrlrange[k]
                if model.actuator_ctrllimited[k] and (s > high or -s < low):
                    self.widened[k] = (float(low), float(high))
                    model.actuator_ctrlrange[k] = (min(low, -s), max(high, s))

    def __call__(self, action: np.ndarray) -> np.ndarray:
        return self.scale * np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)[self.index]


class BulletLayoutMuJoCoEnv(gym.Env):
    """A MuJoCo v5 task with the observation/action spaces of its PyBullet source (see module docstring)."""

    def __init__(
        self, task: str, render_mode: str | None = None, match_torque: bool = True, **mujoco_kwargs: Any
    ) -> None:
        if task not in MUJOCO_IDS:
            raise SimtransferError(f"unknown sim-to-sim task {task!r}; known: {', '.join(TASKS)}")
        self.task = task
        self.reference = bullet_reference(task)
        creator = load_env_creator(gym.spec(MUJOCO_IDS[task]).entry_point)
        try:
            self.mujoco_env = creator(render_mode=render_mode, **mujoco_kwargs)
        except TypeError as exc:
            raise SimtransferError(f"bad keyword argument for {MUJOCO_IDS[task]}: {exc}") from exc
        self.model: mujoco.MjModel = self.mujoco_env.unwrapped.model
        self.data: mujoco.MjData = self.mujoco_env.unwrapped.data
        self.observation_space = copy.deepcopy(self.reference.observation_space)
        self.action_space = copy.deepcopy(self.reference.action_space)
        self.actions = ActionMap(self.model, self.reference, match_torque=match_torque)
        from simtransfer.envs.sim2sim_obs import LAYOUTS  # optional dependency: mujoco

        self.layout = LAYOUTS[task](self.model, self.reference)
        self.render_mode = render_mode
        self.metadata = dict(self.mujoco_env.metadata)
        frame_skip = int(self.mujoco_env.unwrapped.frame_skip)
        self.params: dict[str, float] = {
            "timestep": float(self.model.opt.timestep),
            "frame_skip": float(frame_skip),
            "dt": float(self.model.opt.timestep) * frame_skip,
            "gravity": float(-self.model.opt.gravity[2]),
        }

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        info.update(sim="mujoco", source=self.reference.bullet_id, params=dict(self.params))
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        _, info = self.mujoco_env.reset(seed=seed, options=options)
        return self.layout.reset(self.data), self._info(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        ctrl = self.actions(action)
        _, reward, terminated, truncated, info = self.mujoco_env.step(ctrl)
        obs = self.layout.observe(self.data)
        return obs, float(reward), bool(terminated), bool(truncated), self._info(info)

    def render(self) -> Any:
        return self.mujoco_env.render()

    def close(self) -> None:
        self.mujoco_env.close()
        super().close()


__all__ = [
    "BULLET_IDS",
    "MUJOCO_IDS",
    "TASKS",
    "ActionMap",
    "BulletLayoutMuJoCoEnv",
    "register_sim2sim_envs",
    "target_id",
]
