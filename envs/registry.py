"""Register the ``simtransfer/*`` environments (idempotent: importing twice changes nothing).

For every task: ``simtransfer/<Task>-v0`` (training distribution, the task's preset in ``envs/presets``),
``<Task>Nominal-v0`` (unchanged physics; nominal ``info["params"]``), ``<Task>Interp-v0`` and
``<Task>Extrap-v0`` (fixed, seeded held-out target sets). Every id accepts ``split_seed=`` (another held-out
set), ``randomization=`` (a mapping or YAML path replacing the preset) and ``context_in_obs=``.

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/CartPole-v0")
>>> sorted(env.reset(seed=0)[1]["params"])[:2]
['gravity', 'joint_damping']
>>> env.close()
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.quiet import quiet_pybullet

PRESETS = Path(__file__).with_name("presets")
NAMESPACE = "simtransfer"
ENTRY_POINT = "simtransfer.envs.registry:make_task_env"
VARIANTS: dict[str, str] = {"": "train", "Nominal": "nominal", "Interp": "interp", "Extrap": "extrap"}


@dataclass(frozen=True)
class Task:
    name: str
    entry_point: str  # the base (unrandomized) env class
    max_episode_steps: int
    reward_threshold: float | None


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("CartPole", "simtransfer.envs.cartpole:CartPoleBulletEnv", 500, 475.0),
    Task("InvertedPendulum", "pybullet_envs_gymnasium.gym_pendulum_envs:InvertedPendulumBulletEnv", 1000, 950.0),
    Task("InvertedDoublePendulum",
         "pybullet_envs_gymnasium.gym_pendulum_envs:InvertedDoublePendulumBulletEnv", 1000, 9100.0),
    Task("InvertedPendulumSwingup",
         "pybullet_envs_gymnasium.gym_pendulum_envs:InvertedPendulumSwingupBulletEnv", 1000, 800.0),
    Task("Reacher", "pybullet_envs_gymnasium.gym_manipulator_envs:ReacherBulletEnv", 150, 18.0),
    Task("Hopper", "pybullet_envs_gymnasium.gym_locomotion_envs:HopperBulletEnv", 1000, 2500.0),
    Task("Walker2D", "pybullet_envs_gymnasium.gym_locomotion_envs:Walker2DBulletEnv", 1000, 2500.0),
    Task("HalfCheetah", "pybullet_envs_gymnasium.gym_locomotion_envs:HalfCheetahBulletEnv", 1000, 3000.0),
    Task("Ant", "pybullet_envs_gymnasium.gym_locomotion_envs:AntBulletEnv", 1000, 2500.0),
    Task("Humanoid", "pybullet_envs_gymnasium.gym_locomotion_envs:HumanoidBulletEnv", 1000, None),
]}


def env_id(task: str, variant: str = "") -> str:
    """``env_id("Hopper", "Interp")`` -> ``"simtransfer/HopperInterp-v0"``."""
    return f"{NAMESPACE}/{task}{variant}-v0"


def registered_ids() -> list[str]:
    return [env_id(t, v) for t in TASKS for v in VARIANTS]


@cache
def _preset_cached(task: str) -> dict[str, Any]:
    from simtransfer.envs.spec import load_yaml

    data = load_yaml(PRESETS / f"{task}.yaml")
    if not isinstance(data, dict):
        raise SimtransferError(f"preset {task}.yaml is not a mapping")
    return data


def preset(task: str) -> dict[str, Any]:
    """The task's training randomization spec (a fresh copy of ``envs/presets/<task>.yaml``)."""
    if task not in TASKS:
        raise SimtransferError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    import copy

    return copy.deepcopy(_preset_cached(task))


def make_task_env(task: str, split: str = "train", *, randomization: str | dict[str, Any] | None = None,
                  split_seed: int | None = None, context_in_obs: bool | None = None,
                  render_mode: str | None = None) -> gym.Env:
    """Entry point of every ``simtransfer/<Task>*-v0`` id: the base Bullet env + the physics randomizer."""
    from simtransfer.envs.randomization import apply_randomization
    from simtransfer.envs.spec import import_object, load_yaml

    if task not in TASKS:
        raise SimtransferError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    if randomization is None:
        mapping = preset(task)
        mapping["split"] = split
    else:
        mapping = load_yaml(randomization) if isinstance(randomization, (str, Path)) else dict(randomization)
        if not isinstance(mapping, dict):
            raise SimtransferError(f"bad randomization spec for {task}: expected a mapping")
        mapping.setdefault("split", split)
    if split_seed is not None:
        mapping["split_seed"] = int(split_seed)
    if context_in_obs is not None:
        mapping["context_in_obs"] = bool(context_in_obs)
    cls = import_object(TASKS[task].entry_point)
    base = cls(render_mode=render_mode)
    return apply_randomization(base, mapping)


def register_all() -> None:
    """Register every task x variant once; already-registered ids are left alone."""
    for task in TASKS.values():
        for variant, split in VARIANTS.items():
            eid = env_id(task.name, variant)
            if eid in gym.registry:
                continue
            gym.register(id=eid, entry_point=ENTRY_POINT, max_episode_steps=task.max_episode_steps,
                         reward_threshold=task.reward_threshold, kwargs={"task": task.name, "split": split})


register_all()
quiet_pybullet()  # before the modules below import it: no build-time banner, no ``argv[0]=`` per connect

# held-out targets from other simulators and games, pixel variants: each module registers its own ids
for _module, _function in (("simtransfer.envs.sim2sim", "register_sim2sim_envs"), ("simtransfer.envs.games", "register_game_envs"),
                           ("simtransfer.envs.pixels", "register_pixel_envs")):
    try:
        _register = getattr(importlib.import_module(_module), _function)
    except (ImportError, AttributeError):
        continue
    _register()
