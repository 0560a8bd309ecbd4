"""simtransfer environments: parameter spaces, the PyBullet randomizer, sensor/actuator wrappers, registration.

Importing the package registers every ``simtransfer/*`` id with gymnasium:

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/InvertedPendulum-v0")
>>> obs, info = env.reset(seed=0)
>>> sorted(info["params"])[:3]
['action_latency', 'action_noise', 'control_period']
>>> env.close()
"""

from __future__ import annotations

import importlib
from typing import Any

from simtransfer.envs import registry
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.registry import TASKS, env_id, preset, registered_ids

_LAZY: dict[str, str] = {
    "EnvSpec": "simtransfer.envs.spec", "make_env": "simtransfer.envs.spec",
    "KINDS": "simtransfer.envs.params", "ParameterSpace": "simtransfer.envs.params", "Selector": "simtransfer.envs.params",
    "make_targets": "simtransfer.envs.params",
    "PhysicsRandomizer": "simtransfer.envs.randomization", "RandomizationSpec": "simtransfer.envs.randomization",
    "apply_randomization": "simtransfer.envs.randomization", "parse_randomization": "simtransfer.envs.randomization",
    "WRAPPERS": "simtransfer.envs.wrappers", "ContextObservation": "simtransfer.envs.wrappers",
    "CartPoleBulletEnv": "simtransfer.envs.cartpole", "make_task_env": "simtransfer.envs.randomization",
}

__all__ = ["SimtransferError", "TASKS", "env_id", "make_task_env", "preset", "registered_ids", "registry",
           *_LAZY]


def __getattr__(name: str) -> Any:  # heavy modules load on first use, so `import envs` stays fast
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs' has no attribute {name!r}")
