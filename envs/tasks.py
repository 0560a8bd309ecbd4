"""The catalog of ``simtransfer/*`` tasks: names, base envs, variants, presets (no registration, nothing heavy).

>>> env_id("Hopper", "Interp")
'simtransfer/HopperInterp-v0'
>>> TASKS["CartPole"].max_episode_steps
500
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.yaml_io import load_yaml

PRESETS = Path(__file__).with_name("presets")
NAMESPACE = "simtransfer"
ENTRY_POINT = "simtransfer.envs.randomization:make_task_env"  # gymnasium imports it on gym.make
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


#: Tasks with a reality stand-in ``simtransfer/<Task>Real-v0`` (envs/reality.py, envs/presets/reality.yaml).
REALITY_TASKS: tuple[str, ...] = ("InvertedPendulum", "InvertedDoublePendulum", "Hopper")
#: Further stand-ins, by their name in envs/presets/reality.yaml: (task, id variant) -> ``simtransfer/<Task><Variant>-v0``.
REALITY_VARIANTS: dict[str, tuple[str, str]] = {"InvertedPendulumHard": ("InvertedPendulum", "RealHard")}


def env_id(task: str, variant: str = "") -> str:
    """``env_id("Hopper", "Interp")`` -> ``"simtransfer/HopperInterp-v0"``."""
    return f"{NAMESPACE}/{task}{variant}-v0"


def registered_ids() -> list[str]:
    return [env_id(t, v) for t in TASKS for v in VARIANTS]


@cache
def _preset_cached(task: str) -> dict[str, Any]:
    data = load_yaml(PRESETS / f"{task}.yaml")
    if not isinstance(data, dict):
        raise SimtransferError(f"preset {task}.yaml is not a mapping")
    return data


def preset(task: str) -> dict[str, Any]:
    """The task's training randomization spec (a fresh copy of ``envs/presets/<task>.yaml``)."""
    if task not in TASKS:
        raise SimtransferError(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    return copy.deepcopy(_preset_cached(task))


# held-out targets from other simulators and games, pixel variants (their envs: envs.sim2sim, envs.games,
# envs.pixels; envs.registry registers every id below without importing those modules)
#: Held-out LunarLander physics: ``LunarLander-v3`` keyword arguments per variant (Nominal = Gymnasium default).
LUNAR_VARIANTS: dict[str, dict[str, Any]] = {
    "Nominal": {"gravity": -10.0, "enable_wind": False, "wind_power": 15.0, "turbulence_power": 1.5},
    "LowGravity": {"gravity": -5.0, "enable_wind": False, "wind_power": 15.0, "turbulence_power": 1.5},
    "HighGravity": {"gravity": -11.5, "enable_wind": False, "wind_power": 15.0, "turbulence_power": 1.5},
    "Wind": {"gravity": -10.0, "enable_wind": True, "wind_power": 15.0, "turbulence_power": 1.5},
    "StrongWind": {"gravity": -10.0, "enable_wind": True, "wind_power": 20.0, "turbulence_power": 2.0},
    "LowGravityWind": {"gravity": -5.0, "enable_wind": True, "wind_power": 10.0, "turbulence_power": 1.0},
}

PIXEL_IDS = {
    "simtransfer/InvertedPendulumPixels-v0": {"split": "train", "heldout": False},
    "simtransfer/InvertedPendulumPixelsHeldout-v0": {"split": "nominal", "heldout": True},
}

#: MuJoCo v5 counterpart of each task (gymnasium ids; the entry point is read from gymnasium's registry).
MUJOCO_IDS: dict[str, str] = {
    "InvertedPendulum": "InvertedPendulum-v5",
    "InvertedDoublePendulum": "InvertedDoublePendulum-v5",
    "Hopper": "Hopper-v5",
    "Walker2D": "Walker2d-v5",
    "HalfCheetah": "HalfCheetah-v5",
    "Ant": "Ant-v5",
}

SIM2SIM_TASKS: tuple[str, ...] = tuple(MUJOCO_IDS)  # envs.sim2sim.TASKS


def target_id(task: str) -> str:
    """Registered id of the MuJoCo target for ``task``, e.g. ``simtransfer/HopperMuJoCo-v0``."""
    return f"simtransfer/{task}MuJoCo-v0"
