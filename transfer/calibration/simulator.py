"""Multi-step prediction from logged states: the simulator side of calibration.

For a window starting at logged step ``k`` the simulator is reset to the state read from observation ``o_k``
(:data:`STATE_SETTERS`), the logged actions are replayed for ``H`` steps through an actuation delay of ``d``
steps (the actions before ``k`` come from the log; before the episode start they are zero) and the predicted
observations ``o_{k+1..k+H}`` are compared with the logged ones. Short windows keep an unstable system (a
pendulum) from diverging, which open-loop replay of a whole episode would.

Only the sum of actuation and sensor delay is visible in (observation, action) logs: ``o_{k+1}`` depends on
``o_k`` and ``a_{k - d_act - d_obs}``. The delay fitted here is that sum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simtransfer.agents.trajectories import Trajectories
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import KINDS
from simtransfer.envs.randomizer import PhysicsRandomizer
from simtransfer.envs.spec import make_env


def _set_inverted_pendulum(robot: Any, obs: np.ndarray) -> None:
    robot.slider.reset_current_position(float(obs[0]), float(obs[1]))
    robot.j1.reset_current_position(float(np.arctan2(obs[3], obs[2])), float(obs[4]))


def _set_inverted_double_pendulum(robot: Any, obs: np.ndarray) -> None:
    robot.slider.reset_current_position(float(obs[0]), float(obs[1]))
    robot.j1.reset_current_position(float(np.arctan2(obs[4], obs[3])), float(obs[5]))
    robot.j2.reset_current_position(float(np.arctan2(obs[7], obs[6])), float(obs[8]))


#: Robot class name -> function writing the simulator state read from one observation.
STATE_SETTERS: dict[str, Callable[[Any, np.ndarray], None]] = {
    "InvertedPendulum": _set_inverted_pendulum,
    "InvertedDoublePendulum": _set_inverted_double_pendulum,
}


class Simulator:
    """The simulator ``sim_id`` with settable physics parameters ``physics`` (names of the randomization spec).

    ``predict(values, delay, windows)`` returns the predicted observations of every window, shape
    ``(n_windows, H, obs_dim)``.
    """

    def __init__(self, sim_id: str, physics: list[str], data: Trajectories) -> None:
        rand = {"params": {n: {"dist": "categorical", "choices": [1.0 if KINDS[n.partition("@")[0]].relative_default
                                                                  else KINDS[n.partition("@")[0]].nominal_absolute]}
                           for n in physics}, "split": "train"}
        spec = {"id": sim_id, "kwargs": {"randomization": rand}} if sim_id.startswith("simtransfer/") else {
            "id": sim_id, "randomization": rand}
        self.env = make_env(spec, seed=0)
        self.env.reset(seed=0)
        inner: Any = self.env
        while not isinstance(inner, PhysicsRandomizer):
            inner = getattr(inner, "env", None)
            if inner is None:
                raise SimtransferError(f"{sim_id}: no physics randomizer found; calibration needs a PyBullet task")
        self.randomizer = inner
        self.binding = inner.binding
        base = self.env.unwrapped
        self.robot, self.scene = getattr(base, "robot", None), getattr(base, "scene", None)
        cls = type(self.robot).__name__
        if cls not in STATE_SETTERS:
            raise SimtransferError(f"{sim_id}: calibration cannot set the state of a {cls} from an observation "
                                   f"(supported: {', '.join(STATE_SETTERS)}; add one to STATE_SETTERS)")
        self.robot_class = cls
        self._set = STATE_SETTERS[cls]
        self.physics = list(physics)
        self.dt = float(getattr(self.scene, "dt", 0.0) or 0.0)
        self.data = data

    def close(self) -> None:
        self.env.close()

    def apply(self, values: dict[str, float]) -> None:
        full = dict(self.randomizer.space.nominal())
        full.update({k: v for k, v in values.items() if k in full})
        self.binding.apply(full)

    def predict(self, values: dict[str, float], delay: int, windows: list[tuple[int, int]], horizon: int,
                initial: np.ndarray | None = None, warmup: int = 0, gain: float = 0.3) -> np.ndarray:
        """Predicted observations ``(n_windows, horizon, obs_dim)``; ``initial`` replaces the logged start states.

        ``warmup`` > 0 filters the start state (sensor noise): from ``o_{k-warmup}``, each step's prediction is
        pulled toward the next logged observation by ``gain`` (a fixed-gain observer) up to step ``k``.
        """
        self.apply(values)
        eps = self.data.episodes
        dim = eps[0].observations.shape[1]
        out = np.empty((len(windows), horizon, dim))
        robot, scene, setter = self.robot, self.scene, self._set
        zero = np.zeros(eps[0].actions.shape[1:])
        for w, (e, k) in enumerate(windows):
            ep = eps[e]
            m = min(warmup, k) if initial is None else 0
            setter(robot, ep.observations[k - m] if initial is None else initial[w])
            for i in range(k - m, k):
                j = i - delay
                robot.apply_action(ep.actions[j] if j >= 0 else zero)
                scene.global_step()
                s = robot.calc_state()
                setter(robot, s + gain * (ep.observations[i + 1] - s))
            for h in range(horizon):
                j = k + h - delay
                robot.apply_action(ep.actions[j] if j >= 0 else zero)
                scene.global_step()
                out[w, h] = robot.calc_state()
        return out


def make_windows(data: Trajectories, horizon: int, max_windows: int, rng: np.random.Generator,
                 source: str) -> list[tuple[int, int]]:
    """Up to ``max_windows`` (episode, start step) pairs with ``horizon`` logged steps after the start."""
    starts = [(e, k) for e, ep in enumerate(data.episodes) for k in range(0, len(ep) - horizon + 1)]
    if len(starts) < 10:
        raise SimtransferError(f"{source}: too few steps: {data.total_steps} logged steps in {len(data.episodes)} "
                               f"episodes give {len(starts)} windows of {horizon} steps; calibration needs at "
                               "least 10 (log longer episodes or lower --horizon)")
    if len(starts) <= max_windows:
        return starts
    idx = np.sort(rng.choice(len(starts), size=max_windows, replace=False))
    return [starts[i] for i in idx]
