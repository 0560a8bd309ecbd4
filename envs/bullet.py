"""Discover the bodies, links, joints and motors of any PyBullet env once, then write parameters cheaply.

Works on every env that exposes a bullet client as ``env.unwrapped._p`` (all ``pybullet-envs-gymnasium``
tasks and :class:`envs.cartpole.CartPoleBulletEnv`): bodies are enumerated from the physics world, names come
from the model files, so no per-task code is needed. Only what changed since the last write is written
(one ``changeDynamics`` per changed link, all properties batched in the call).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from envs.errors import SimtransferError
from envs.params import KINDS, ParameterSpace

# kind -> (changeDynamics keyword, index in getDynamicsInfo)
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
    """Wrap ``joint.set_motor_torque`` on the instance so every commanded torque is multiplied by a gain."""
    cell = getattr(joint, "_simtransfer_gain", None)
    if cell is None:
        cell = GainCell()
        orig = joint.set_motor_torque

        def set_motor_torque(torque: float, _orig=orig, _cell=cell) -> None:
            _orig(_cell.gain * torque)

        joint.set_motor_torque = set_motor_torque
        joint._simtransfer_gain = cell
    return cell


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
        self._robot_idx = [i for i, li in enumerate(self.links) if li.body in robot_bodies]
        self.joints = self._motor_joints(robot)
        # (link index, kind) -> parameter name; specific selections override general ones
        self.assign: dict[tuple[int, str], str] = {}
        self.motor_assign: dict[str, str] = {}
        self.gravity_param: str | None = None
        ordered = sorted(space.params, key=lambda prm: prm.links is not None)
        for prm in ordered:
            target = KINDS[prm.kind].target
            if target == "world":
                self.gravity_param = prm.name
            elif target == "motor":
                self._assign_motors(prm)
            else:
                for i in self._select(prm):
                    self.assign[(i, prm.kind)] = prm.name
        self._params = space.by_name
        self._written: dict[int, dict[str, float]] = {}
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

    def preset_gravity(self, values: dict[str, float]) -> None:
        """Before the env's reset: set the scene's gravity so its reset applies it (a direct write would be
        overwritten there)."""
        world = getattr(getattr(self.env, "scene", None), "cpp_world", None)
        if world is not None and self.gravity_param is not None:
            world.gravity = self.gravity_for(values)
            self._gravity = float("nan")  # the env's reset writes it; re-check after

    def apply(self, values: dict[str, float] | None) -> None:
        """Write ``values`` (None: the native values) to the simulation, skipping what is already there."""
        p = self.p
        native = values is None
        want: dict[int, dict[str, float]] = {}
        for (i, kind), pname in self.assign.items():
            li = self.links[i]
            if native:
                x = li.native[kind]
            else:
                prm = self._params[pname]
                x = li.native[kind] * values[pname] if prm.relative else values[pname]
            want.setdefault(i, {})[kind] = x
        for i, props in want.items():
            last = self._written.get(i)
            if last is None:
                if all(self.links[i].native[k] == v for k, v in props.items()):
                    continue
            elif last == props:
                continue
            li = self.links[i]
            kw: dict[str, Any] = {}
            for k, v in props.items():
                if k == "mass":
                    kw["mass"] = v
                    s = v / li.native["mass"]
                    kw["localInertiaDiagonal"] = [c * s for c in li.inertia]
                elif k == "joint_damping":
                    kw["jointDamping"] = v
                else:
                    kw[_LINK_FIELDS[k][0]] = v
            p.changeDynamics(li.body, li.link, **kw)
            self._written[i] = props
        g = self.native_gravity if native else self.gravity_for(values)
        if g != self._gravity:
            world = getattr(getattr(self.env, "scene", None), "cpp_world", None)
            if world is not None:
                world.gravity = g
            p.setGravity(0.0, 0.0, -g)
            self._gravity = g
        if self.motor_assign:
            for jname, pname in self.motor_assign.items():
                gain = 1.0 if native else values[pname]
                if jname == "*":
                    self.env.motor_gain = gain
                else:
                    self.joints[jname].gain = gain

    def link_names(self) -> list[str]:
        return sorted({li.name for li in self.links})
