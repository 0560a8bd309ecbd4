"""Reality stand-ins: the simulator with known parameters outside the shipped training ranges.

``simtransfer/<Task>Real-v0`` (InvertedPendulum, InvertedDoublePendulum, Hopper) is the task with the fixed
parameters of ``envs/presets/reality.yaml``: a 2-step actuation delay, sensor noise, a weaker motor and a
heavier link. Further stand-ins of a task (``REALITY_VARIANTS`` in envs/tasks.py) have their own entry there,
e.g. ``simtransfer/InvertedPendulumRealHard-v0`` (entry ``InvertedPendulumHard``, chosen by
bench/bench_calibration_sweep.py: one that defeats nominal and uncalibrated-DR policies but not an oracle).
They play the real robot in the calibration benchmark; :func:`true_params` is for the benchmark's scoring only
(``simtransfer calibrate`` never reads it).

>>> import gymnasium as gym, simtransfer.envs
>>> env = gym.make("simtransfer/InvertedPendulumReal-v0")
>>> env.reset(seed=0)[1]["params"]["action_latency"], true_params("InvertedPendulum")["motor_gain"]
(2.0, 0.4)
>>> env.close()
>>> gym.spec("simtransfer/InvertedPendulumRealHard-v0").kwargs
{'task': 'InvertedPendulum', 'standin': 'InvertedPendulumHard'}
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomization import make_task_env
from simtransfer.envs.tasks import PRESETS, REALITY_TASKS, REALITY_VARIANTS
from simtransfer.envs.yaml_io import load_yaml


def reality_spec(task: str, standin: str | None = None) -> dict[str, Any]:
    """The stand-in's randomization mapping (one-value categoricals, train split); ``standin``: a further
    stand-in's name in reality.yaml (default: the task's own, ``simtransfer/<Task>Real-v0``)."""
    if task not in REALITY_TASKS:
        raise SimtransferError(f"no reality stand-in for '{task}' (available: {', '.join(REALITY_TASKS)})")
    if standin is not None and REALITY_VARIANTS.get(standin, (None,))[0] != task:
        known = ", ".join(n for n, (t, _) in REALITY_VARIANTS.items() if t == task) or "none"
        raise SimtransferError(f"no reality stand-in '{standin}' for '{task}' (available: {known})")
    entry = dict(load_yaml(PRESETS / "reality.yaml")[standin or task])
    entry.pop("task", None)
    return {**entry, "split": "train"}


def true_params(task: str, standin: str | None = None) -> dict[str, float]:
    """The stand-in's true parameter values (for benchmarks only)."""
    return {name: float(p["choices"][0]) for name, p in reality_spec(task, standin)["params"].items()}


def make_reality_env(task: str, render_mode: str | None = None, standin: str | None = None) -> gym.Env:
    """Entry point of ``simtransfer/<Task>Real-v0`` (and of the further stand-ins, by ``standin``)."""
    return make_task_env(task, randomization=reality_spec(task, standin), render_mode=render_mode)
