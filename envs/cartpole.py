"""A Bullet CartPole with CartPole-v1's interface: two discrete pushes, 4-d observation, same termination.

It loads ``pybullet_data/cartpole.urdf`` (cart 1 kg, pole 0.1 kg, 1 m) and sets the pole's inertia to that of a
thin rod, so the dynamics match the classic task; the physics runs in PyBullet, so the generic randomizer can
change masses, friction, damping, gravity and the push strength (``motor_gain``).

>>> env = CartPoleBulletEnv()
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space
((4,), Discrete(2))
>>> env.close()
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pybullet
import pybullet_data
from pybullet_utils import bullet_client


class CartPoleBulletEnv(gym.Env):
    """Balance a pole on a cart by pushing the cart left (0) or right (1); +1 reward per step.

    Terminates when the pole leans more than 12 degrees or the cart leaves [-2.4, 2.4] (as CartPole-v1);
    registered with a 500-step time limit.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}

    force_mag = 10.0
    tau = 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    pole_length = 1.0

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.render_mode = render_mode
        self.motor_gain = 1.0  # push-strength multiplier (randomizable as 'motor_gain')
        high = np.array([self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._p: bullet_client.BulletClient | None = None
        self.cartpole = -1
        self._state = np.zeros(4, dtype=np.float32)

    def _connect(self) -> None:
        p = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
        p.resetSimulation()
        p.setGravity(0, 0, -9.8)
        p.setTimeStep(self.tau)
        self.cartpole = p.loadURDF(os.path.join(pybullet_data.getDataPath(), "cartpole.urdf"), [0, 0, 0])
        # thin rod about its centre: m l^2 / 12 (the file's unit inertia makes the pole sluggish)
        rod = 0.1 * self.pole_length**2 / 12
        p.changeDynamics(self.cartpole, 1, localInertiaDiagonal=[rod, rod, 1e-5])
        for j in (-1, 0, 1):
            p.changeDynamics(self.cartpole, j, linearDamping=0, angularDamping=0)
        for j in (0, 1):  # free joints: switch off the default velocity motors
            p.setJointMotorControl2(self.cartpole, j, pybullet.VELOCITY_CONTROL, force=0)
        self._p = p

    def _observe(self) -> np.ndarray:
        assert self._p is not None
        (x, x_dot, _, _), (th, th_dot, _, _) = self._p.getJointStates(self.cartpole, [0, 1])
        self._state = np.array([x, x_dot, th, th_dot], dtype=np.float32)
        return self._state

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self._p is None:
            self._connect()
        assert self._p is not None
        init = self.np_random.uniform(-0.05, 0.05, size=4)
        self._p.resetJointState(self.cartpole, 0, init[0], init[1])
        self._p.resetJointState(self.cartpole, 1, init[2], init[3])
        return self._observe(), {}

    def step(self, action: Any):
        assert self._p is not None, "call reset() before step()"
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for Discrete(2)")
        force = (self.force_mag if int(action) == 1 else -self.force_mag) * self.motor_gain
        self._p.setJointMotorControl2(self.cartpole, 0, pybullet.TORQUE_CONTROL, force=force)
        self._p.stepSimulation()
        x, _, theta, _ = self._observe()
        terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold)
        return self._state.copy(), 1.0, terminated, False, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._p is None:
            return None
        p = self._p
        view = p.computeViewMatrixFromYawPitchRoll([0, 0, 0.5], 4.0, 0, -10, 0, 2)
        proj = p.computeProjectionMatrixFOV(60, 320 / 240, 0.1, 100)
        _, _, px, _, _ = p.getCameraImage(320, 240, view, proj, renderer=pybullet.ER_TINY_RENDERER)
        return np.asarray(px, dtype=np.uint8).reshape(240, 320, 4)[:, :, :3]

    def close(self) -> None:
        if self._p is not None:
            self._p.disconnect()
            self._p = None
