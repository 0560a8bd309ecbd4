"""simtransfer environments: parameter spaces, the PyBullet randomizer, sensor/actuator wrappers, registration.

Importing the package registers every ``simtransfer/*`` id with gymnasium:

>>> import gymnasium as gym, envs
>>> env = gym.make("simtransfer/InvertedPendulum-v0")
>>> obs, info = env.reset(seed=0)
>>> sorted(info["params"])[:3]
['gravity', 'joint_damping', 'lateral_friction']
>>> env.close()
"""

from __future__ import annotations

import importlib
from typing import Any

from envs import registry
from envs.errors import SimtransferError
from envs.registry import TASKS, env_id, make_task_env, preset, registered_ids

_LAZY: dict[str, str] = {
    "EnvSpec": "envs.spec", "make_env": "envs.spec",
    "KINDS": "envs.params", "ParameterSpace": "envs.params", "Selector": "envs.params",
    "make_targets": "envs.params",
    "PhysicsRandomizer": "envs.randomization", "RandomizationSpec": "envs.randomization",
    "apply_randomization": "envs.randomization", "parse_randomization": "envs.randomization",
    "WRAPPERS": "envs.wrappers", "ContextObservation": "envs.wrappers",
    "CartPoleBulletEnv": "envs.cartpole",
}

__all__ = ["SimtransferError", "TASKS", "env_id", "make_task_env", "preset", "registered_ids", "registry",
           *_LAZY]


def __getattr__(name: str) -> Any:  # heavy modules load on first use, so `import envs` stays fast
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs' has no attribute {name!r}")
