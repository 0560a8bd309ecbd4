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


def _set_inverted_pendulum(robot: Any, obs: np.ndarray, prev: np.ndarray | None, filtered: bool) -> None:
    robot.slider.reset_current_position(float(obs[0]), float(obs[1]))
    robot.j1.reset_current_position(float(np.arctan2(obs[3], obs[2])), float(obs[4]))


def _set_inverted_double_pendulum(robot: Any, obs: np.ndarray, prev: np.ndarray | None,
                                  filtered: bool) -> None:
    robot.slider.reset_current_position(float(obs[0]), float(obs[1]))
    robot.j1.reset_current_position(float(np.arctan2(obs[4], obs[3])), float(obs[5]))
    robot.j2.reset_current_position(float(np.arctan2(obs[7], obs[6])), float(obs[8]))


#: Hopper pitch-rate correction per unit of the observer's pitch correction (an alpha-beta filter's beta / alpha).
RATE_GAIN = 0.18


def _set_hopper(robot: Any, obs: np.ndarray, prev: np.ndarray | None, filtered: bool) -> None:
    """Planar Hopper: root slides x, z and pitch hinge (``ignore1..3``), then thigh, leg, foot.

    The observation holds the torso's height (above its initial one), linear velocity, pitch, the joints and the
    foot contact, but not the torso's pitch rate. From a logged observation it is the pitch's backward difference
    from ``prev`` (zero at an episode's first step, where the robot is at rest); in the observer (``filtered``,
    ``prev`` the prediction the observer corrected) the simulator keeps its own rate, corrected by
    :data:`RATE_GAIN` times the pitch correction per step. The torso's x (no effect on a flat floor) is set to 0.
    """
    p, body = robot._p, robot.robot_body.bodies[robot.robot_body.bodyIndex]
    pitch = float(obs[7])
    if filtered:
        rate = p.getJointState(body, 2)[1] + RATE_GAIN * float(pitch - prev[7]) / robot.scene.dt
    else:
        rate = 0.0 if prev is None else float(np.arctan2(np.sin(pitch - prev[7]), np.cos(pitch - prev[7]))) / robot.scene.dt
    for j, (pos, vel) in zip(robot.ordered_joints, obs[8:14].reshape(3, 2)):
        j.set_state(j.lowerLimit + (float(pos) + 1.0) / 2.0 * (j.upperLimit - j.lowerLimit), 10.0 * float(vel))
    torso = robot.robot_body.bodyPartIndex
    p.resetJointState(body, 0, 0.0, 0.0)
    p.resetJointState(body, 1, 0.0, 0.0)
    p.resetJointState(body, 2, pitch, rate)
    pos, _, _, _, _, _, vel, _ = p.getLinkState(body, torso, computeLinkVelocity=1, computeForwardKinematics=1)
    p.resetJointState(body, 0, -pos[0], obs[3] / 0.3 - vel[0])
    p.resetJointState(body, 1, float(obs[0]) + robot.initial_z - pos[2], obs[5] / 0.3 - vel[2])
    robot.feet_contact[:] = np.round(obs[14:15])


def _walker_contacts(base: Any) -> None:
    """What a locomotion env's ``step`` does after observing: record which feet touch the ground (the next
    observation reports it)."""
    robot = base.robot
    for i, f in enumerate(robot.feet):
        robot.feet_contact[i] = float(bool(base.ground_ids & {(x[2], x[4]) for x in f.contact_list()}))


def _walker_observer(robot: Any) -> Callable[[], np.ndarray]:
    """``WalkerBase.calc_state`` (pybullet_envs_gymnasium) with one PyBullet query per body instead of one per
    part and joint: the same numbers (tests/transfer/test_calibration_hopper.py compares them), a fraction of the
    time (calc_state was the largest cost of a Hopper calibration). Skips the robot attributes the env's reward
    reads (``joint_speeds``, ``joints_at_limit``, ``body_xyz``), which a prediction does not need."""
    p, torso = robot._p, robot.robot_body
    body, link = torso.bodies[torso.bodyIndex], torso.bodyPartIndex
    joints = robot.ordered_joints
    jbody, jidx = joints[0].bodies[joints[0].bodyIndex], [j.jointIndex for j in joints]
    low = np.array([j.lowerLimit for j in joints])
    span = np.array([j.upperLimit for j in joints]) - low
    parts = [(bp.bodies[bp.bodyIndex], bp.bodyPartIndex) for bp in robot.parts.values()]
    links = sorted({i for b, i in parts if b == body and i >= 0})
    where = {i: n for n, i in enumerate(links)}

    def observe() -> np.ndarray:
        js = p.getJointStates(jbody, jidx)
        j = np.empty(2 * len(js))
        j[0::2] = 2 * (np.array([s[0] for s in js]) - low) / span - 1.0
        j[1::2] = 0.1 * np.array([s[1] for s in js])
        states = p.getLinkStates(body, links, computeLinkVelocity=1)
        xyz = np.array([states[where[i]][0] if b == body and i >= 0 else p.getBasePositionAndOrientation(b)[0]
                        for b, i in parts]).flatten()
        pos, orn, vel = states[where[link]][0], states[where[link]][1], states[where[link]][6]
        r, pitch, yaw = p.getEulerFromQuaternion(orn)
        theta = np.arctan2(robot.walk_target_y - xyz[1::3].mean(), robot.walk_target_x - xyz[0::3].mean())
        rot = np.array([[np.cos(-yaw), -np.sin(-yaw), 0], [np.sin(-yaw), np.cos(-yaw), 0], [0, 0, 1]])
        vx, vy, vz = np.dot(rot, np.array(vel))
        more = np.array([pos[2] - robot.initial_z, np.sin(theta - yaw), np.cos(theta - yaw), 0.3 * vx, 0.3 * vy,
                         0.3 * vz, r, pitch], dtype=np.float32)
        return np.clip(np.concatenate([more, j.astype(np.float32), robot.feet_contact]), -5, +5)

    return observe


#: Robot class name -> ``setter(robot, obs, prev, filtered)`` writing the simulator state read from observation
#: ``obs``. A state the observation lacks (a rate) comes from ``prev``: the logged observation before ``obs`` (None
#: at an episode's start), or, when ``filtered`` (the start-state observer), the prediction that ``obs`` corrects.
STATE_SETTERS: dict[str, Callable[[Any, np.ndarray, np.ndarray | None, bool], None]] = {
    "InvertedPendulum": _set_inverted_pendulum,
    "InvertedDoublePendulum": _set_inverted_double_pendulum,
    "Hopper": _set_hopper,
}
#: Robot class name -> a faster ``calc_state`` (given the robot; same numbers), where the robot's own is slow.
OBSERVERS: dict[str, Callable[[Any], Callable[[], np.ndarray]]] = {"Hopper": _walker_observer}
#: Robot class name -> what the env's ``step`` does after observing (given the unwrapped env), if anything.
AFTER_STEP: dict[str, Callable[[Any], None]] = {"Hopper": _walker_contacts}


class _BoundClient:
    """A PyBullet client whose functions are looked up once: ``BulletClient`` binds the client id anew on every
    call (``getattr`` + ``inspect.isbuiltin`` + ``functools.partial``), which was a third of a calibration's
    CPU time (profiled on InvertedDoublePendulum). The functions and the physics are the same."""

    def __init__(self, client: Any) -> None:
        self._wrapped = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._wrapped, name)
        if name != "disconnect":
            setattr(self, name, value)
        return value


def _bind_client(base: Any) -> None:
    """Give the env's robot, scene, parts and joints one :class:`_BoundClient` (a private env of the Simulator)."""
    client = getattr(base, "_p", None)
    if client is None:
        return
    fast = _BoundClient(client)
    robot, scene = getattr(base, "robot", None), getattr(base, "scene", None)
    objects = [base, robot, scene, getattr(scene, "cpp_world", None), getattr(robot, "robot_body", None)]
    for table in ("parts", "jdict"):
        objects += list((getattr(robot, table, None) or {}).values())
    objects += list(getattr(robot, "ordered_joints", None) or [])
    for obj in objects:
        if obj is not None and getattr(obj, "_p", None) is client:
            obj._p = fast


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
        _bind_client(base)
        self._after = AFTER_STEP.get(cls)
        self._observe = OBSERVERS[cls](self.robot) if cls in OBSERVERS else self.robot.calc_state
        self.base = base
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
                initial: np.ndarray | None = None, warmup: int = 0, gain: float = 0.3,
                initial_prev: np.ndarray | None = None) -> np.ndarray:
        """Predicted observations ``(n_windows, horizon, obs_dim)``; ``initial`` replaces the logged start states
        (and ``initial_prev`` the logged observations before them, for setters that read a rate from them).

        ``warmup`` > 0 filters the start state (sensor noise): from ``o_{k-warmup}``, each step's prediction is
        pulled toward the next logged observation by ``gain`` (a fixed-gain observer) up to step ``k``.
        """
        self.apply(values)
        eps = self.data.episodes
        dim = eps[0].observations.shape[1]
        out = np.empty((len(windows), horizon, dim))
        robot, scene, setter, after, observe = self.robot, self.scene, self._set, self._after, self._observe
        zero = np.zeros(eps[0].actions.shape[1:])
        for w, (e, k) in enumerate(windows):
            ep = eps[e]
            if initial is None:
                m = min(warmup, k)
                setter(robot, ep.observations[k - m], ep.observations[k - m - 1] if k - m > 0 else None, False)
            else:
                m = 0
                setter(robot, initial[w], None if initial_prev is None or k == 0 else initial_prev[w], False)
            for i in range(k - m, k):
                j = i - delay
                robot.apply_action(ep.actions[j] if j >= 0 else zero)
                scene.global_step()
                s = observe()
                if after is not None:
                    after(self.base)
                setter(robot, s + gain * (ep.observations[i + 1] - s), s, True)
            for h in range(horizon):
                j = k + h - delay
                robot.apply_action(ep.actions[j] if j >= 0 else zero)
                scene.global_step()
                out[w, h] = observe()
                if after is not None:
                    after(self.base)
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
