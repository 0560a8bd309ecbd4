"""Discover the bodies, links, joints and motors of any PyBullet env once, then write parameters cheaply.

Works on every env that exposes a bullet client as ``env.unwrapped._p`` (all ``pybullet-envs-gymnasium``
tasks and :class:`simtransfer.envs.cartpole.CartPoleBulletEnv`): bodies are enumerated from the physics world, names come
from the model files, so no per-task code is needed. Only what changed since the last write is written
(one ``changeDynamics`` per changed link, all properties batched in the call).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import pybullet
from pybullet_envs_gymnasium.robot_bases import Joint

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import KINDS, ParameterSpace

# kind -> (changeDynamics keyword, index in getDynamicsInfo)
_KEYWORD = {"mass": "mass", "joint_damping": "jointDamping", "lateral_friction": "lateralFriction",
            "restitution": "restitution", "rolling_friction": "rollingFriction", "spinning_friction": "spinningFriction"}
_LINK_FIELDS = {"lateral_friction": ("lateralFriction", 1), "restitution": ("restitution", 5),
                "rolling_friction": ("rollingFriction", 6), "spinning_friction": ("spinningFriction", 7)}


@dataclass
class LinkInfo:
    body: int
    link: int  # -1: base
    name: str
    joint_name: str | None
    joint_movable: bool
    has_collision: bool
    native: dict[str, float]
    inertia: tuple[float, float, float]


def bullet_client(env: Any) -> Any:
    """The env's bullet client, or a one-line error if it has none (e.g. not reset yet, or not PyBullet)."""
    p = getattr(env.unwrapped, "_p", None)
    if p is None:
        raise SimtransferError(f"{type(env.unwrapped).__name__} exposes no PyBullet client (env.unwrapped._p); "
                               "physics randomization needs a PyBullet env")
    return p


class GainCell:
    """A mutable torque multiplier shared by the closures installed on an env's joints."""

    __slots__ = ("gain",)

    def __init__(self) -> None:
        self.gain = 1.0


def _install_gain(joint: Any) -> GainCell:
    """Make ``joint.set_motor_torque`` multiply every commanded torque by a gain (on the instance, once).

    For the stock ``pybullet_envs_gymnasium`` joint the installed function sends the scaled torque straight to
    PyBullet (one call instead of the joint's two-level Python chain), so the gain costs nothing per step;
    other joint classes get a plain wrapper around their own method.
    """
    cell = getattr(joint, "_simtransfer_gain", None)
    if cell is not None:
        return cell
    cell = GainCell()
    orig = joint.set_motor_torque
    stock = _stock_joint(joint)
    if stock:
        body, index = joint.bodies[joint.bodyIndex], joint.jointIndex
        client = joint._p._client

        def set_motor_torque(torque: float, _cell=cell, _set=pybullet.setJointMotorControl2,
                             _mode=pybullet.TORQUE_CONTROL) -> None:
            _set(bodyIndex=body, jointIndex=index, controlMode=_mode, force=_cell.gain * torque,
                 physicsClientId=client)
    else:
        def set_motor_torque(torque: float, _orig=orig, _cell=cell) -> None:
            _orig(_cell.gain * torque)

    joint.set_motor_torque = set_motor_torque
    joint._simtransfer_gain = cell
    return cell


def _stock_joint(joint: Any) -> bool:
    cls = type(joint)
    return (isinstance(joint, Joint) and cls.set_motor_torque is Joint.set_motor_torque
            and cls.set_torque is Joint.set_torque and hasattr(joint._p, "_client"))


class BulletBinding:
    """Physics handles of one env (discovered once, after its first reset) and a writer for parameters."""

    def __init__(self, env: Any, space: ParameterSpace) -> None:
        self.env = env.unwrapped
        self.p = p = bullet_client(env)
        self.space = space
        robot = getattr(self.env, "robot", None)
        bodies = [p.getBodyUniqueId(i) for i in range(p.getNumBodies())]
        robot_bodies = set(getattr(robot, "objects", None) or bodies)
        self.links: list[LinkInfo] = []
        for b in bodies:
            for j in range(-1, p.getNumJoints(b)):
                if j < 0:
                    name, jname, movable = p.getBodyInfo(b)[0].decode(), None, False
                else:
                    info = p.getJointInfo(b, j)
                    name, jname, movable = info[12].decode(), info[1].decode(), info[2] != p.JOINT_FIXED
                d = p.getDynamicsInfo(b, j)
                native = {"mass": d[0], "joint_damping": p.getJointInfo(b, j)[6] if j >= 0 else 0.0}
                native.update({k: d[i] for k, (_, i) in _LINK_FIELDS.items()})
                # contact-capable: massive links and jointless static bodies (floor, rail); the massless
                # links the MJCF importer inserts between joints carry no shapes
                contact = d[0] > 0 or (j < 0 and p.getNumJoints(b) == 0)
                self.links.append(LinkInfo(b, j, name, jname, movable, contact, native, tuple(d[2])))
        # default selection: the robot's moving bodies; static scenery (a jointless, massless body such as the
        # floor, a rail or the arena walls) is only changed when selected by name
        static = {li.body for li in self.links if li.link < 0 and li.native["mass"] == 0
                  and p.getNumJoints(li.body) == 0}
        self._robot_idx = [i for i, li in enumerate(self.links) if li.body in robot_bodies and li.body not in static]
        self.joints = self._motor_joints(robot)
        # (link index, kind) -> parameter name; specific selections override general ones
        self.assign: dict[tuple[int, str], str] = {}
        self.motor_assign: dict[str, str] = {}
        self.gravity_param: str | None = None
        ordered = sorted(space.params, key=lambda prm: prm.links is not None)
        for prm in ordered:
            target = KINDS[prm.kind].target
            if target == "game":
                raise SimtransferError(f"parameter '{prm.name}': {prm.kind} is a Box2D game setting "
                                       f"({KINDS[prm.kind].description}), not a PyBullet one")
            if target == "signal":  # actuator/sensor effects: envs.signals.SignalModel applies them
                continue
            if target == "world":
                self.gravity_param = prm.name
            elif target == "motor":
                self._assign_motors(prm)
            else:
                for i in self._select(prm):
                    self.assign[(i, prm.kind)] = prm.name
        self._params = space.by_name
        self._cid = getattr(p, "_client", 0)
        self._compile()
        self._world = getattr(getattr(self.env, "scene", None), "cpp_world", None)
        self.native_gravity = self._scene_gravity()
        self._gravity = self.native_gravity

    # discovery ------------------------------------------------------------------------------------------
    def _motor_joints(self, robot: Any) -> dict[str, GainCell] | None:
        jdict = getattr(robot, "jdict", None) if robot is not None else None
        if jdict:
            return {name: _install_gain(j) for name, j in jdict.items()}
        return None

    def _assign_motors(self, prm: Any) -> None:
        if self.joints is None:
            if not hasattr(self.env, "motor_gain"):
                raise SimtransferError(f"parameter '{prm.name}': {type(self.env).__name__} has no motors to scale "
                                       "(needs robot.jdict joints or a 'motor_gain' attribute)")
            if prm.links is not None:
                raise SimtransferError(f"parameter '{prm.name}': {type(self.env).__name__} has a single motor gain")
            self.motor_assign["*"] = prm.name
            return
        names = list(self.joints)
        chosen = names if prm.links is None else self._match(prm, names)
        for n in chosen:
            self.motor_assign[n] = prm.name

    def _match(self, prm: Any, names: list[str]) -> list[str]:
        out = [n for n in names if any(fnmatch.fnmatchcase(n, pat) for pat in prm.links)]
        if not out:
            raise SimtransferError(f"parameter '{prm.name}': no name matches {list(prm.links)} "
                                   f"(available: {', '.join(sorted(set(names)))})")
        return out

    def _select(self, prm: Any) -> list[int]:
        kind = prm.kind
        if kind == "mass":
            ok = [i for i, li in enumerate(self.links) if li.native["mass"] > 0]
        elif kind == "joint_damping":
            ok = [i for i, li in enumerate(self.links) if li.joint_movable]
        else:
            ok = [i for i, li in enumerate(self.links) if li.has_collision]
        if prm.links is None:
            robot = set(self._robot_idx)
            return [i for i in ok if i in robot]
        key = (lambda li: li.joint_name) if kind == "joint_damping" else (lambda li: li.name)
        names = [key(self.links[i]) for i in ok]
        chosen = set(self._match(prm, names))
        return [i for i in ok if key(self.links[i]) in chosen]

    def _scene_gravity(self) -> float:
        scene = getattr(self.env, "scene", None)
        world = getattr(scene, "cpp_world", None)
        if world is not None:
            return float(world.gravity)
        return -float(self.p.getPhysicsEngineParameters()["gravityAccelerationZ"])

    # writing --------------------------------------------------------------------------------------------
    def gravity_for(self, values: dict[str, float]) -> float:
        if self.gravity_param is None:
            return self.native_gravity
        prm = self._params[self.gravity_param]
        v = values[self.gravity_param]
        return self.native_gravity * v if prm.relative else v

    def preset_before_reset(self, values: dict[str, float]) -> None:
        """Before the env's reset: write what that reset would overwrite, i.e. the scene's gravity (a direct
        write would be overwritten there)."""
        world = self._world
        if world is not None and self.gravity_param is not None:
            world.gravity = g = self.gravity_for(values)
            # pybullet-envs scenes write cpp_world.gravity on every reset; other worlds get a direct write after
            self._gravity = g if hasattr(world, "clean_everything") else float("nan")

    def _compile(self) -> None:
        """One write plan per link: (body, link, [(keyword, param, native, relative)], inertia, native mass)."""
        by_link: dict[int, list[tuple[str, str]]] = {}
        for (i, kind), pname in self.assign.items():
            by_link.setdefault(i, []).append((kind, pname))
        self._plans: list[tuple[int, int, tuple[tuple[str, str, float, bool], ...], tuple, float]] = []
        self._last: list[dict[str, float]] = []
        for i, entries in sorted(by_link.items()):
            li = self.links[i]
            items = tuple((_KEYWORD[kind], pname, li.native[kind], self._params[pname].relative)
                          for kind, pname in entries)
            self._plans.append((li.body, li.link, items, li.inertia, li.native["mass"]))
            self._last.append({kw: native for kw, _, native, _ in items})
        self._native = [dict(d) for d in self._last]

    def apply(self, values: dict[str, float] | None) -> int:
        """Write ``values`` (None: the native values) to the simulation, skipping what is already there.

        Returns the number of ``changeDynamics`` calls made.
        """
        change, cid, calls = pybullet.changeDynamics, self._cid, 0
        for k, (body, link, items, inertia, mass0) in enumerate(self._plans):
            kw = self._native[k] if values is None else {
                name: native * values[pname] if rel else values[pname] for name, pname, native, rel in items}
            if kw == self._last[k]:
                continue
            self._last[k] = kw
            if "mass" in kw:
                s = kw["mass"] / mass0
                change(body, link, localInertiaDiagonal=(inertia[0] * s, inertia[1] * s, inertia[2] * s),
                       physicsClientId=cid, **kw)
            else:
                change(body, link, physicsClientId=cid, **kw)
            calls += 1
        g = self.native_gravity if values is None else self.gravity_for(values)
        if g != self._gravity:
            if self._world is not None:
                self._world.gravity = g
            pybullet.setGravity(0.0, 0.0, -g, physicsClientId=cid)
            self._gravity = g
        for jname, pname in self.motor_assign.items():
            gain = 1.0 if values is None else values[pname]
            if jname == "*":
                self.env.motor_gain = gain
            else:
                self.joints[jname].gain = gain
        return calls

    def link_names(self) -> list[str]:
        return sorted({li.name for li in self.links})
