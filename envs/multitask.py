"""Multi-task environments: several related tasks behind one env, and the task's identity as an observation.

* :class:`MultiTaskConfig` — the ``multitask:`` block of a training config (tasks, task identity, mixing);
* :class:`TaskLabel` — puts the task's name in ``info["task"]`` (after ``reset`` and every ``step``);
* :class:`TaskOneHot` — appends a one-hot of ``info["task"]`` over a list of task names to the observation; an
  env without a label (a held-out target) gets all zeros: "unknown task";
* :class:`MultiTaskEnv` — one env per task, a new task drawn per episode from ``self.np_random`` (seeded by
  ``reset(seed=...)``), so every training env sees every task.

>>> import gymnasium as gym, simtransfer.envs
>>> names = ["light", "heavy"]
>>> def task(name):
...     return lambda: TaskOneHot(TaskLabel(gym.make("simtransfer/InvertedPendulumNominal-v0"), name), names)
>>> env = MultiTaskEnv([task(n) for n in names], names)
>>> obs, info = env.reset(seed=0)
>>> info["task"] in names, obs.shape, float(obs[5 + names.index(info["task"])])
(True, (7,), 1.0)
>>> env.close()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, WrapperSpec

ONEHOT = "simtransfer.envs.multitask:TaskOneHot"
LABEL = "simtransfer.envs.multitask:TaskLabel"
HEADS = ("multitask_heads", "simtransfer.agents.multitask:MultiTaskHeadsPolicy")  # envs/components.py


class MultiTaskConfig(BaseModel):
    """Several training tasks for one policy: the ``multitask:`` block of a training config."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[EnvSpec] = Field(
        description="the task env specs (at least 2, distinct names; per-task adapters go in each task's wrappers)")
    task_id: Literal["none", "onehot"] = Field(
        default="none", description="task identity in the observation: none, or a one-hot (zeros on other envs)")
    mixing: Literal["episode", "round_robin"] = Field(
        default="episode", description="episode: every training env draws a task per episode (seeded); "
        "round_robin: training env i runs task i mod len(tasks)")

    @field_validator("tasks", mode="before")
    @classmethod
    def _ids_to_specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("tasks")
    @classmethod
    def _check_tasks(cls, value: list[EnvSpec]) -> list[EnvSpec]:
        if len(value) < 2:
            raise ValueError(f"a multi-task run needs at least 2 tasks, got {len(value)}")
        names = [t.display_name for t in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"two tasks are named '{dup[0]}' (set 'name' to tell them apart)")
        if "train" in names:
            raise ValueError("a task may not be named 'train' (eval.json's name for the mixed tasks)")
        return value

    @property
    def names(self) -> list[str]:
        """The task names, in order (what ``info["task"]``, ``eval.json`` and the one-hot use)."""
        return [t.display_name for t in self.tasks]

    @staticmethod
    def first_task(raw: Any) -> Any:
        """The first task of a raw training config's ``multitask`` block (None if there is none)."""
        block = raw.get("multitask") if isinstance(raw, dict) else None
        tasks = block.get("tasks") if isinstance(block, dict) else None
        return tasks[0] if isinstance(tasks, list) and tasks else None

    @staticmethod
    def fill_env(raw: Any) -> Any:
        """A raw training config without ``env`` gets the first task as its ``env`` (a copy; else unchanged)."""
        if not isinstance(raw, dict) or raw.get("env") is not None or not isinstance(raw.get("multitask"), dict):
            return raw
        if raw["multitask"].get("tasks") == []:  # else "env: required key is missing" would hide the cause
            raise ValueError("multitask.tasks: a multi-task run needs at least 2 tasks, got 0")
        first = MultiTaskConfig.first_task(raw)
        return raw if first is None else {**raw, "env": first}

    def check_train_config(self, cfg: Any) -> None:
        """Validate a training config (``TrainConfig``) holding this block, and add the one-hot adapter to its
        ``adapters`` (so every env the policy acts in, held-out targets included, gets the task code)."""
        if cfg.env != self.tasks[0]:
            raise ValueError("env must be omitted or be the first of multitask.tasks (the tasks are the training "
                             "envs)")
        if self.mixing == "round_robin" and cfg.n_envs < len(self.tasks):
            raise ValueError(f"mixing round_robin runs task i on training env i: n_envs ({cfg.n_envs}) must be at "
                             f"least the number of tasks ({len(self.tasks)})")
        codes = [a for a in cfg.adapters if a.type == ONEHOT]
        if self.task_id == "onehot" and not codes:
            cfg.adapters.append(self.onehot_adapter())
        elif any(a.kwargs.get("tasks") != self.names for a in codes):
            raise ValueError(f"adapters: a task one-hot over other tasks than multitask.tasks {self.names}")
        if cfg.policy.policy_class in HEADS:
            if self.task_id != "onehot":
                raise ValueError("per-task heads (policy_class multitask_heads) need multitask.task_id: onehot")
            n = cfg.policy.kwargs.setdefault("n_tasks", len(self.tasks))
            if n != len(self.tasks):
                raise ValueError(f"policy.kwargs.n_tasks is {n}, multitask.tasks has {len(self.tasks)}")

    def onehot_adapter(self) -> WrapperSpec:
        """The :class:`TaskOneHot` adapter over these tasks (applied to every env the policy acts in)."""
        return WrapperSpec(type=ONEHOT, kwargs={"tasks": self.names})

    def labelled(self, index: int) -> EnvSpec:
        """Task ``index``'s spec with a :class:`TaskLabel` as its last wrapper."""
        spec = self.tasks[index]
        label = WrapperSpec(type=LABEL, kwargs={"task": spec.display_name})
        return spec.model_copy(update={"wrappers": [*spec.wrappers, label]})


class TaskLabel(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Put the task's name in ``info["task"]`` after ``reset`` and every ``step``.

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = TaskLabel(gym.make("simtransfer/CartPoleNominal-v0"), "cart")
    >>> env.reset(seed=0)[1]["task"]
    'cart'
    """

    def __init__(self, env: gym.Env, task: str) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, task=task)
        gym.Wrapper.__init__(self, env)
        self.task = str(task)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "task": self.task}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "task": self.task}


class TaskOneHot(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Append a one-hot of the active task (``info["task"]`` at reset) over ``tasks``; zeros for an env whose
    task is not one of them (a held-out target: "unknown task").

    >>> import gymnasium as gym, simtransfer.envs
    >>> env = TaskOneHot(gym.make("simtransfer/CartPoleNominal-v0"), ["a", "b"])
    >>> env.reset(seed=0)[0][-2:].tolist()
    [0.0, 0.0]
    """

    def __init__(self, env: gym.Env, tasks: list[str]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, tasks=tasks)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise SimtransferError(f"task one-hot needs a flat Box observation, got {space}")
        if not tasks:
            raise SimtransferError("task one-hot needs at least one task name")
        self.tasks = [str(t) for t in tasks]
        n = len(self.tasks)
        self.observation_space = gym.spaces.Box(np.concatenate([space.low, np.zeros(n)]).astype(np.float32),
                                                np.concatenate([space.high, np.ones(n)]).astype(np.float32),
                                                dtype=np.float32)
        self._code = np.zeros(n, dtype=np.float32)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._code = np.zeros(len(self.tasks), dtype=np.float32)
        if info.get("task") in self.tasks:
            self._code[self.tasks.index(info["task"])] = 1.0
        return self.observation(obs), info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(observation, dtype=np.float32), self._code])


def _same(a: gym.Space, b: gym.Space, bounds: bool) -> bool:
    same = type(a) is type(b) and a.shape == b.shape
    if same and isinstance(a, gym.spaces.Discrete):
        same = a.n == b.n
    if same and bounds and isinstance(a, gym.spaces.Box):
        same = bool(np.allclose(a.low, b.low) and np.allclose(a.high, b.high))
    return same


def check_task_spaces(names: Sequence[str], obs_spaces: Sequence[gym.Space], act_spaces: Sequence[gym.Space]) -> None:
    """A one-line error naming two tasks whose observation shapes or action spaces (bounds too) differ.

    >>> box = gym.spaces.Box(-1, 1, (3,))
    >>> check_task_spaces(["a", "b"], [box, gym.spaces.Box(-1, 1, (5,))], [box, box])
    Traceback (most recent call last):
    ...
    simtransfer.envs.errors.SimtransferError: multitask: tasks 'a' and 'b' have different observation spaces (Box(-1.0, 1.0, (3,), float32) vs Box(-1.0, 1.0, (5,), float32)); make them compatible with an adapter in the task's wrappers (docs/multitask.md)
    """
    for what, spaces, bounds in (("observation", obs_spaces, False), ("action", act_spaces, True)):
        for name, space in zip(names[1:], spaces[1:], strict=True):
            if not _same(spaces[0], space, bounds):
                raise SimtransferError(
                    f"multitask: tasks '{names[0]}' and '{name}' have different {what} spaces ({spaces[0]} vs "
                    f"{space}); make them compatible with an adapter in the task's wrappers (docs/multitask.md)")


RANGE_ATTRS = ("adr_config", "curriculum_schedule")  # the ADR and curriculum wrappers (agents/adr_callback.py)


def check_no_ranges(name: str, env: gym.Env) -> None:
    """A one-line error when task ``name``'s env has an ADR or curriculum wrapper: their training callbacks find
    such wrappers on the vectorized env, never inside a multi-task env, so the ranges would silently stay put."""
    for attr in RANGE_ATTRS:
        try:
            env.get_wrapper_attr(attr)
        except AttributeError:
            continue
        raise SimtransferError(f"multitask: task '{name}' uses ADR or a curriculum, which multi-task training does "
                               "not drive; give the task a fixed randomization")


class MultiTaskEnv(gym.Env):
    """One env per task; each episode runs a task drawn uniformly from ``self.np_random``.

    ``env_fns[i]()`` builds task ``names[i]`` (adapters included); all must have the same observation and
    action spaces (action bounds too), else a one-line error names the two tasks. ``info["task"]`` names the
    active task.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], names: Sequence[str]) -> None:
        if not env_fns or len(env_fns) != len(names):
            raise SimtransferError("multitask: needs one env per task name, and at least one")
        self.names = [str(n) for n in names]
        self.envs: list[gym.Env] = []
        try:
            for fn in env_fns:
                self.envs.append(fn())
            check_task_spaces(self.names, [e.observation_space for e in self.envs],
                              [e.action_space for e in self.envs])
            for name, env in zip(self.names, self.envs, strict=True):
                check_no_ranges(name, env)
        except BaseException:
            self.close()
            raise
        self.observation_space, self.action_space = self.envs[0].observation_space, self.envs[0].action_space
        self.active = 0

    @property
    def task(self) -> str:
        """The name of the active task."""
        return self.names[self.active]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.active = int(self.np_random.integers(len(self.envs)))
        sub_seed = int(self.np_random.integers(2**31 - 1))  # the task env's episode, seeded from ours
        obs, info = self.envs[self.active].reset(seed=sub_seed, options=options)
        return obs, {**info, "task": self.task}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.envs[self.active].step(action)
        return obs, reward, terminated, truncated, {**info, "task": self.task}

    def close(self) -> None:
        for env in self.envs:
            env.close()
