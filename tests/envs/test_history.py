"""Context- and history-aware observations: privileged context matches info["params"]; history shapes and content."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.history import HistoryObservation
from simtransfer.envs.wrappers import ContextObservation


def test_context_observation_matches_info_params():
    env = gym.make("simtransfer/InvertedPendulum-v0", context_in_obs=True)
    names = env.get_wrapper_attr("randomizer").param_names
    assert env.observation_space.shape == (5 + len(names),)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert obs[5:] == pytest.approx([info["params"][n] for n in names], rel=1e-6)
        obs, *_ = env.step(np.zeros(1, dtype=np.float32))
        assert obs[5:] == pytest.approx([info["params"][n] for n in names], rel=1e-6)  # constant in an episode
    env.close()


def test_history_shapes_bounds_and_order():
    base = gym.make("simtransfer/InvertedPendulumNominal-v0")
    env = HistoryObservation(base, k=3)
    space = env.observation_space
    assert space.shape == (3 * 5 + 3 * 1,) and space.dtype == np.float32
    assert np.all(space.low[15:] == -1.0) and np.all(space.high[15:] == 1.0)  # action bounds, repeated
    assert np.all(space.low[:15] == np.tile(base.observation_space.low, 3))
    o0, _ = env.reset(seed=0)
    assert np.all(o0[:5] == o0[5:10]) and np.all(o0[10:15] == o0[5:10]) and np.all(o0[15:] == 0)
    actions = [0.5, -0.25, 1.0, 0.75]
    obs_seen = [o0[10:15].copy()]
    for a in actions:
        o, *_ = env.step(np.array([a], dtype=np.float32))
        obs_seen.append(o[10:15].copy())
        assert o in space
    assert o[15:] == pytest.approx(actions[-3:])  # a_{t-3}, a_{t-2}, a_{t-1}, oldest first
    assert o[:5] == pytest.approx(obs_seen[-3]) and o[5:10] == pytest.approx(obs_seen[-2])
    o, _ = env.reset(seed=1)  # a reset clears the history
    assert np.all(o[15:] == 0) and np.all(o[:5] == o[10:15])
    env.close()


def test_history_discrete_one_hot_and_observations_only():
    env = HistoryObservation(gym.make("simtransfer/CartPoleNominal-v0"), k=2)
    assert env.observation_space.shape == (2 * 4 + 2 * 2,)
    env.reset(seed=0)
    o, *_ = env.step(1)
    o, *_ = env.step(0)
    assert list(o[8:]) == [0, 1, 1, 0]
    env.close()
    only = HistoryObservation(gym.make("simtransfer/CartPoleNominal-v0"), k=4, include_actions=False)
    assert only.observation_space.shape == (16,)
    only.close()


def test_history_passes_the_env_checker_and_rejects_bad_input():
    from tests.checkers import check_env_strict

    check_env_strict(HistoryObservation(gym.make("simtransfer/InvertedPendulum-v0"), k=4),
                     allow=["wrapped", "unbounded_obs"], sb3=False)
    with pytest.raises(SimtransferError, match="k must be"):
        HistoryObservation(gym.make("simtransfer/CartPoleNominal-v0"), k=0)
    from simtransfer.envs.pixels import PixelObservation

    with pytest.raises(SimtransferError, match="flat Box"):
        HistoryObservation(PixelObservation(gym.make("simtransfer/InvertedPendulumNominal-v0")), k=2)


def test_context_and_history_compose():
    env = HistoryObservation(ContextObservation(gym.make("simtransfer/InvertedPendulum-v0")), k=2)
    obs, info = env.reset(seed=0)
    n = len(info["params"])
    assert env.observation_space.shape == (2 * (5 + n) + 2,)
    assert obs[5:5 + n] == pytest.approx(list(info["params"].values()), rel=1e-6)
    env.close()
