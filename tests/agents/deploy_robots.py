"""Robots for the deploy tests (not a test module): an in-process Pendulum and faulty ones."""

from __future__ import annotations

import threading
from typing import Any

import gymnasium as gym
import numpy as np


class SimRobot:
    """Pendulum-v1 in this process: each sent action steps the env; ``done()`` after ``episode_steps``."""

    def __init__(self, episode_steps: int = 40, fault: str | None = None, fault_at: int = 5) -> None:
        self.env = gym.make("Pendulum-v1")
        self.obs, _ = self.env.reset(seed=0)
        self.episode_steps, self.fault, self.fault_at = episode_steps, fault, fault_at
        self.t, self.sent, self.stopped, self.episode = 0, [], False, 0
        self.release = threading.Event()

    def read_observation(self) -> Any:
        if self.t >= self.fault_at:
            if self.fault == "nan":
                return np.full(3, np.nan)
            if self.fault == "raise":
                raise RuntimeError("encoder cable unplugged")
            if self.fault == "hang":
                self.release.wait(30)  # until stop() releases it (a real driver would time out too)
            if self.fault == "size":
                return np.zeros(4)
        return self.obs

    def send_action(self, action: Any) -> None:
        self.sent.append(np.array(action, dtype=np.float64).reshape(-1))
        self.obs, *_ = self.env.step(np.asarray(action, dtype=np.float32).reshape(1))
        self.t += 1

    def done(self) -> tuple[bool, bool]:
        return False, self.t >= self.episode_steps * (self.episode + 1)

    def reset(self) -> None:
        if self.t:
            self.episode += 1
            self.obs, _ = self.env.reset(seed=self.episode)

    def safe_action(self) -> Any:
        return np.array([0.0], dtype=np.float32)

    def stop(self) -> None:
        self.stopped = True
        self.release.set()


def make(**kwargs: Any) -> SimRobot:
    return SimRobot(**kwargs)
