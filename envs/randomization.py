"""The generic physics randomizer (PyBullet envs; Box2D's LunarLander) and the randomization spec that configures it.

A randomization spec is a mapping (usually YAML)::

    params:                         # name -> distribution; name is <kind> or <kind>@<label>
      mass: {dist: uniform, low: 0.8, high: 1.2}            # relative: scale of every robot link's mass
      mass@foot: {low: 0.5, high: 1.5}                      # per-link: links whose name matches "foot"
      lateral_friction: {low: 0.7, high: 1.3, links: [floor]}
      gravity: {low: 9.0, high: 10.6}                       # absolute, m/s^2
      motor_gain: {dist: loguniform, low: 0.8, high: 1.25}
      action_latency: {dist: categorical, choices: [0, 1, 2]}  # actuators and sensors: envs/signals.py
      obs_noise: {low: 0.0, high: 0.02}
    resample_every: null            # also resample every N steps (null: only at reset)
    split: train                    # train | interp | extrap | nominal
    split_seed: 0                   # seed of the held-out target sets
    n_targets: 10                   # size of each held-out target set
    selector: cycle                 # cycle | random (held-out splits)
    context_in_obs: false           # append the parameters to the observation

>>> import gymnasium as gym, envs                                         # doctest: +SKIP
>>> env = apply_randomization(gym.make("HopperBulletEnv-v0"), {"params": {"mass": {"low": .5, "high": 2}}})
>>> obs, info = env.reset(seed=0); info["params"]                         # doctest: +SKIP
{'mass': 1.52...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from simtransfer.envs.adr import ADRRandomization
from simtransfer.envs.curriculum import CurriculumRandomization
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.randomizer import PhysicsRandomizer, RandomizationSpec, parse_randomization
from simtransfer.envs.signals import SignalModel, signal_params
from simtransfer.envs.tasks import TASKS, preset
from simtransfer.envs.trust import import_object
from simtransfer.envs.wrappers import ContextObservation
from simtransfer.envs.yaml_io import load_yaml

__all__ = ["PhysicsRandomizer", "RandomizationSpec", "apply_randomization", "make_task_env", "parse_randomization"]


def apply_randomization(env: gym.Env, mapping: RandomizationSpec | dict[str, Any] | None) -> gym.Env:
    """Wrap ``env`` with a :class:`PhysicsRandomizer` configured by ``mapping`` (plus a context observation
    if the spec asks for it). The entry point used by :func:`simtransfer.envs.spec.make_env`."""
    spec = parse_randomization(mapping)
    randomizer = PhysicsRandomizer(env, spec)
    wrapped: gym.Env = SignalModel(randomizer) if signal_params(randomizer) else randomizer
    if spec.adr is not None and spec.curriculum is not None:
        raise SimtransferError("randomization: 'adr' and 'curriculum' both drive the ranges; pick one")
    if spec.split == "train" and spec.adr is not None:
        wrapped = ADRRandomization(wrapped, **spec.adr)
    elif spec.split == "train" and spec.curriculum is not None:
        wrapped = CurriculumRandomization(wrapped, **spec.curriculum)
    if spec.context_in_obs:
        wrapped = ContextObservation(wrapped)
    return wrapped


def make_task_env(task: str, split: str = "train", *, randomization: str | dict[str, Any] | None = None,
                  split_seed: int | None = None, context_in_obs: bool | None = None,
                  render_mode: str | None = None) -> gym.Env:
    """Entry point of every ``simtransfer/<Task>*-v0`` id (``tasks.ENTRY_POINT``): the base Bullet env + the
    physics randomizer."""
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
