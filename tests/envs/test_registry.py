"""Every simtransfer id is registered once, passes both env checkers and reports its parameters."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest

from simtransfer import envs
from simtransfer.envs.registry import TASKS, VARIANTS, env_id, registered_ids
from tests.checkers import check_env_strict

IDS = registered_ids()
TASK_OF = {env_id(t, v): t for t in TASKS for v in VARIANTS}


def test_all_ids_registered() -> None:
    assert len(IDS) == 4 * len(TASKS) == 40
    assert "simtransfer/InvertedPendulum-v0" in IDS and "simtransfer/CartPoleExtrap-v0" in IDS
    assert env_id("Walker2D", "Nominal") == "simtransfer/Walker2DNominal-v0"
    for i in IDS:
        assert i in gym.registry


def test_registration_is_idempotent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(envs.registry)
        importlib.reload(envs)
    assert registered_ids() == IDS


@pytest.mark.parametrize("eid", IDS)
def test_env_checkers_pass(eid: str) -> None:
    env = gym.make(eid)
    check_env_strict(env, allow=["wrapped", "unbounded_obs"])  # any other checker warning fails
    obs, info = env.reset(seed=0)
    assert set(info["params"]) == set(envs.preset(TASK_OF[eid])["params"])
    assert all(isinstance(v, float) for v in info["params"].values())
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    env.close()


@pytest.mark.parametrize("task", ["CartPole", "Hopper"])
def test_variants_report_their_split(task: str) -> None:
    got = {}
    for variant, split in VARIANTS.items():
        env = gym.make(env_id(task, variant))
        _, info = env.reset(seed=0)
        got[split] = (info["params"], info["context_id"], env.get_wrapper_attr("config").split)
        env.close()
    assert got["nominal"][0]["mass"] == 1.0 and got["nominal"][0]["gravity"] == 9.8
    assert got["train"][1] == -1 and got["interp"][1] == 0 and got["extrap"][1] == 0
    assert {v[2] for v in got.values()} == set(VARIANTS.values())


def test_randomization_kwarg_replaces_preset() -> None:
    env = gym.make("simtransfer/CartPole-v0", randomization={"params": {"gravity": {"low": 3.0, "high": 4.0}}})
    _, info = env.reset(seed=0)
    assert list(info["params"]) == ["gravity"] and 3.0 <= info["params"]["gravity"] <= 4.0
    env.close()


def test_cartpole_is_cartpole_v1_like() -> None:
    env = gym.make("simtransfer/CartPoleNominal-v0")
    assert env.spec.max_episode_steps == 500 and env.action_space == gym.spaces.Discrete(2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,) and np.all(np.abs(obs) <= 0.05)
    steps, total, done = 0, 0.0, False
    while not done:  # a simple controller balances it to the time limit
        obs, r, term, trunc, _ = env.step(int(obs[2] + 0.5 * obs[3] + 0.1 * obs[1] > 0))
        steps, total, done = steps + 1, total + r, term or trunc
    assert (steps, total, term, trunc) == (500, 500.0, False, True)
    obs, _ = env.reset(seed=1)
    steps, done = 0, False
    while not done:  # always pushing right tips the pole over early
        obs, r, term, trunc, _ = env.step(1)
        steps, done = steps + 1, term or trunc
    assert term and steps < 100 and abs(obs[2]) > 0.2
    env.close()
