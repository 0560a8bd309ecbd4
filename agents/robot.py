"""The robot interface ``simtransfer deploy`` drives: three required methods, four optional ones.

A robot is any object with::

    read_observation() -> array      # the latest raw observation (the exported file's observation layout)
    send_action(action) -> None      # command the actuators (already clipped to the action limits)
    stop() -> None                   # safe stop: actuators off / brakes on; called once at the end, always

and optionally::

    safe_action() -> array | int     # what the watchdog sends on overrun, NaN or error (default: zeros / 0)
    reset() -> None                  # bring the robot to the start of an episode (default: nothing)
    done() -> bool | (terminated, truncated)   # the episode is over, e.g. it fell (default: never)
    reward() -> float                # logged with each step (default: 0.0)
    close() -> None                  # release connections/processes after stop (default: nothing)

``--robot MODULE:CALLABLE`` names a factory returning such an object; ``--robot-arg K=V`` passes keyword
arguments. The module is trusted because it is typed on the command line (envs/trust.py).

>>> class Echo:
...     def read_observation(self): return [0.0, 0.0, 1.0, 0.0, 0.0]
...     def send_action(self, action): self.last = action
...     def stop(self): pass
>>> check_robot(Echo()) is None
True
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from simtransfer.envs.errors import SimtransferError

REQUIRED = ("read_observation", "send_action", "stop")


@runtime_checkable
class Robot(Protocol):
    def read_observation(self) -> Any: ...
    def send_action(self, action: Any) -> None: ...
    def stop(self) -> None: ...


def check_robot(robot: Any) -> None:
    """One-line error naming the first missing method."""
    for name in REQUIRED:
        if not callable(getattr(robot, name, None)):
            raise SimtransferError(f"robot {type(robot).__name__} has no {name}() (needs {', '.join(REQUIRED)})")


def default_safe_action(metadata: dict[str, Any]) -> Any:
    """Zeros clipped into the action bounds (Box) or 0 (Discrete)."""
    space = metadata["action"]["space"]
    if space["type"] != "Box":
        return 0
    low = np.array([float(v) for v in space["low"]], dtype=np.float64).reshape(space["shape"])
    high = np.array([float(v) for v in space["high"]], dtype=np.float64).reshape(space["shape"])
    return np.clip(np.zeros(space["shape"]), low, high).astype(np.float32)


def episode_over(robot: Any) -> tuple[bool, bool]:
    """(terminated, truncated) from the robot's optional ``done()``."""
    fn = getattr(robot, "done", None)
    if not callable(fn):
        return False, False
    res = fn()
    if isinstance(res, tuple):
        return bool(res[0]), bool(res[1])
    return bool(res), False


def optional_call(robot: Any, name: str, default: Any = None) -> Any:
    fn = getattr(robot, name, None)
    return fn() if callable(fn) else default
