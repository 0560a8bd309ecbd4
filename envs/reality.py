"""Reality stand-ins: the simulator with known parameters outside the shipped training ranges.

``simtransfer/<Task>Real-v0`` (InvertedPendulum, InvertedDoublePendulum, Hopper) is the task with the fixed
parameters of ``envs/presets/reality.yaml``: a 2-step actuation delay, sensor noise, a weaker motor and a
heavier link. They play the real robot in the calibration benchmark; :func:`true_params` is for the benchmark's
scoring only (``simtransfer calibrate`` never reads it).

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/InvertedPendulumReal-v0")
>>> env.reset(seed=0)[1]["params"]["action_latency"], true_params("InvertedPendulum")["motor_gain"]
(2.0, 0.4)
>>> env.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomization import make_task_env
from simtransfer.envs.tasks import PRESETS, REALITY_TASKS
from simtransfer.envs.yaml_io import load_yaml


def reality_spec(task: str) -> dict[str, Any]:
    """The stand-in's randomization mapping (one-value categoricals, train split)."""
    if task not in REALITY_TASKS:
        raise SimtransferError(f"no reality stand-in for '{task}' (available: {', '.join(REALITY_TASKS)})")
    data = load_yaml(PRESETS / "reality.yaml")
    return {**data[task], "split": "train"}


def true_params(task: str) -> dict[str, float]:
    """The stand-in's true parameter values (for benchmarks only)."""
    return {name: float(p["choices"][0]) for name, p in reality_spec(task)["params"].items()}


def make_reality_env(task: str, render_mode: str | None = None) -> gym.Env:
    """Entry point of ``simtransfer/<Task>Real-v0``."""
    return make_task_env(task, randomization=reality_spec(task), render_mode=render_mode)
