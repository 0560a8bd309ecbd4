"""MultiTaskEnv, TaskLabel, TaskOneHot and the ``multitask:`` config block (envs/multitask.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pydantic import ValidationError

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.multitask import MultiTaskConfig, MultiTaskEnv, TaskLabel, TaskOneHot, check_task_spaces

NAMES = ["a", "b", "c"]


def _task(env_id: str, name: str):
    return lambda: TaskOneHot(TaskLabel(gym.make(env_id), name), NAMES)


def _tasks_seen(env: MultiTaskEnv, seed: int, episodes: int = 12) -> list[str]:
    seen = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed if i == 0 else None)
        assert obs[4 + NAMES.index(info["task"])] == 1.0 and obs[4:].sum() == 1.0  # the one-hot of the task
        _, _, _, _, step_info = env.step(env.action_space.sample())
        assert step_info["task"] == info["task"] == env.task
        seen.append(info["task"])
    return seen


def test_tasks_switch_per_episode_seeded():
    env = MultiTaskEnv([_task("CartPole-v1", n) for n in NAMES], NAMES)
    first = _tasks_seen(env, seed=3)
    again = _tasks_seen(env, seed=3)
    other = _tasks_seen(env, seed=4)
    env.close()
    assert first == again  # the same seed draws the same tasks
    assert set(first) == set(NAMES)  # every task is visited
    assert first != other


def test_onehot_is_zero_for_an_unknown_task():
    env = TaskOneHot(TaskLabel(gym.make("CartPole-v1"), "held_out"), NAMES)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (7,) and obs.shape == (7,)
    assert np.all(obs[4:] == 0.0)
    obs, *_ = env.step(0)
    assert np.all(obs[4:] == 0.0)


def test_incompatible_spaces_name_both_tasks():
    with pytest.raises(SimtransferError, match="tasks 'a' and 'b' have different observation spaces"):
        MultiTaskEnv([lambda: gym.make("CartPole-v1"), lambda: gym.make("Acrobot-v1")], ["a", "b"])
    box = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(SimtransferError, match="tasks 'a' and 'c' have different action spaces"):
        check_task_spaces(["a", "b", "c"], [box] * 3, [box, box, gym.spaces.Box(-2, 2, (2,))])


@pytest.mark.parametrize(("tasks", "message"), [
    ([], "at least 2 tasks"),
    (["CartPole-v1"], "at least 2 tasks"),
    (["CartPole-v1", "CartPole-v1"], "two tasks are named 'CartPole-v1'"),
    ([{"id": "CartPole-v1", "name": "train"}, "Acrobot-v1"], "may not be named 'train'"),
])
def test_bad_task_lists(tasks, message):
    with pytest.raises(ValidationError, match=message):
        MultiTaskConfig(tasks=tasks)


def test_labelled_spec_and_onehot_adapter():
    cfg = MultiTaskConfig(tasks=[{"id": "CartPole-v1", "name": "x"}, {"id": "CartPole-v1", "name": "y"}])
    assert cfg.names == ["x", "y"]
    assert cfg.labelled(1).wrappers[-1].kwargs == {"task": "y"}
    assert cfg.onehot_adapter().kwargs == {"tasks": ["x", "y"]}
