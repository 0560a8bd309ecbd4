"""The strict checker helper fails on what gymnasium only warns about: proven with deliberately broken envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests.checkers import ALLOWED, check_env_strict


class Broken(gym.Env):
    """A 1-D env whose observation or reward can be made wrong.  The bad reward comes on the env's first step
    only: gymnasium's determinism check (later steps) would otherwise trip over ``nan != nan`` by accident, and
    what must fail the test is the checker's NaN *warning*."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, obs: float = 0.0, reward: float = 0.0):
        self._obs, self._reward, self._steps = np.array([obs], np.float32), reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self._steps += 1
        return self._obs.copy(), self._reward if self._steps == 1 else 0.0, False, False, {}


def test_a_correct_env_passes():
    check_env_strict(Broken())


def test_an_observation_outside_its_space_fails():
    with pytest.raises(AssertionError, match="not within the observation space"):
        check_env_strict(Broken(obs=5.0), sb3=False)  # gymnasium alone: a warning, made a failure
    with pytest.raises(AssertionError):
        check_env_strict(Broken(obs=5.0))


def test_a_nan_reward_fails():
    with pytest.raises(AssertionError, match="The reward is a NaN value"):
        check_env_strict(Broken(reward=float("nan")), sb3=False)
    with pytest.raises(AssertionError, match="NaN"):
        check_env_strict(Broken(reward=float("nan")), allow=ALLOWED)  # allowing every named one does not help


def test_allowed_warnings_are_named_and_only_those_pass():
    env = gym.wrappers.TimeLimit(Broken(), 10)
    with pytest.raises(AssertionError, match="different from the unwrapped"):
        check_env_strict(env, sb3=False)
    check_env_strict(env, allow=["wrapped"], sb3=False)
    with pytest.raises(KeyError):
        check_env_strict(env, allow=["anything"])
    assert all(reason for _, reason in ALLOWED.values())
