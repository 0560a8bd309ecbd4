"""The RL² trial wrapper: K inner episodes of one sampled physics as one episode (envs/trial.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import simtransfer.envs  # noqa: F401  (registers the ids)
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import make_env
from simtransfer.envs.trial import TrialWrapper
from simtransfer.envs.wrappers import WRAPPERS

SPEC = {"id": "simtransfer/InvertedPendulum-v0", "kwargs": {"max_episode_steps": 20}}


def _run_trial(env: gym.Env, seed: int = 0) -> tuple[list[dict], list[np.ndarray], list[bool]]:
    obs, info = env.reset(seed=seed)
    infos, observations, ends = [info], [obs], []
    rng = np.random.default_rng(seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, size=env.action_space.shape))
        infos.append(info)
        observations.append(obs)
        done = terminated or truncated
        ends.append(done)
    return infos, observations, ends


def test_inner_episodes_keep_the_trials_physics() -> None:
    env = TrialWrapper(make_env(SPEC), episodes=3)
    infos, _, ends = _run_trial(env)
    first = infos[0]["params"]
    inner_resets = [i["trial_reset_info"]["params"] for i in infos if "trial_reset_info" in i]
    assert len(inner_resets) == 2 and all(p == first for p in inner_resets)
    assert [i["trial_episode"] for i in infos if "trial_episode_return" in i] == [0, 1, 2]
    assert sum(ends) == 1 and ends[-1]  # one SB3 episode: no end before the third inner episode is over
    _, info = env.reset(seed=1)  # the next trial draws new physics
    assert info["params"] != first
    env.close()


def test_without_the_trial_every_episode_draws_new_physics() -> None:
    env = make_env(SPEC)
    a = env.reset(seed=0)[1]["params"]
    b = env.reset()[1]["params"]
    assert a != b
    c = env.reset(options={"keep_params": True})[1]["params"]
    assert c == b
    env.close()


def test_observation_layout_previous_action_reward_done() -> None:
    env = TrialWrapper(make_env(SPEC), episodes=2)
    assert env.observation_space.shape == (5 + 1 + 2,)
    obs, _ = env.reset(seed=0)
    assert np.all(obs[5:] == 0)
    obs, reward, _, _, _ = env.step(np.array([0.5], dtype=np.float32))
    assert obs[5] == pytest.approx(0.5) and obs[6] == pytest.approx(reward) and obs[7] == 0
    _, observations, _ = _run_trial(env)
    flags = [o[7] for o in observations]
    assert flags[0] == 0 and sum(flags) == 2  # the first obs of episode 2, and the trial's last obs
    env.close()


def test_discrete_actions_are_one_hot() -> None:
    env = TrialWrapper(gym.make("simtransfer/CartPoleNominal-v0"), episodes=1)
    env.reset(seed=0)
    obs, *_ = env.step(1)
    assert env.observation_space.shape == (4 + 2 + 2,)
    assert list(obs[4:6]) == [0.0, 1.0]
    env.close()


def test_registered_short_name() -> None:
    assert WRAPPERS["trial"] is TrialWrapper
    env = make_env({**SPEC, "wrappers": [{"type": "trial", "kwargs": {"episodes": 2}}]})
    assert isinstance(env, TrialWrapper) and env.episodes == 2
    env.close()


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_is_a_one_line_error(k: int) -> None:
    with pytest.raises(SimtransferError, match=r"episodes \(K\) must be >= 1") as exc:
        TrialWrapper(make_env(SPEC), episodes=k)
    assert "\n" not in str(exc.value)


def test_non_box_observation_is_a_one_line_error() -> None:
    env = gym.make("FrozenLake-v1")
    with pytest.raises(SimtransferError, match="trial needs a flat Box observation") as exc:
        TrialWrapper(env)
    assert "\n" not in str(exc.value)


def test_a_trial_keeps_its_sensor_offset() -> None:
    spec = {"id": "simtransfer/InvertedPendulum-v0", "kwargs": {"max_episode_steps": 5},
            "randomization": {"params": {"obs_bias": {"dist": "categorical", "choices": [0.5]}}}}
    env = make_env(spec)
    signals = env
    while not hasattr(signals, "_bias"):
        signals = signals.env
    env.reset(seed=0)
    first = np.array(signals._bias)
    env.reset(options={"keep_params": True})
    assert np.array_equal(signals._bias, first)  # the same sensor inside a trial
    env.reset()
    assert not np.array_equal(signals._bias, first)  # a new trial: a new offset
    env.close()


def test_a_trial_ends_after_k_inner_episodes_and_reports_each_return() -> None:
    """CartPole pays 1 per step: each inner episode's return is its length, counted afresh, and the trial (one SB3
    episode) ends only at the K-th inner end, whose flag is set in the observation at every inner boundary."""
    env = TrialWrapper(gym.make("CartPole-v1"), episodes=3)
    assert env.observation_space.shape == (4 + 2 + 2,)
    assert list(env.observation_space.low[-2:]) == [-np.inf, 0.0] and list(env.observation_space.high[-2:]) == [
        np.inf, 1.0]
    assert list(env.observation_space.low[4:6]) == [0.0, 0.0] and list(env.observation_space.high[4:6]) == [1.0, 1.0]
    obs, info = env.reset(seed=3)
    assert info["trial_episode"] == 0 and list(obs[-2:]) == [0.0, 0.0]
    steps, returns, flags, done = 0, [], [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(0)  # always push left: short inner episodes
        steps += 1
        done = terminated or truncated
        if "trial_episode_return" in info:
            returns.append((info["trial_episode"], info["trial_episode_return"], steps))
            steps = 0
        flags.append(obs[-1])
        assert obs[-2] == reward == 1.0
    assert [r[0] for r in returns] == [0, 1, 2]
    assert all(ret == length for _, ret, length in returns)  # a return restarts at 0 for each inner episode
    assert sum(flags) == 3 and flags[-1] == 1.0


def test_a_trial_has_three_inner_episodes_by_default() -> None:
    env = TrialWrapper(gym.make("CartPole-v1"))
    env.reset(seed=0)
    ends, done = [], False
    while not done:
        _, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
        if "trial_episode_return" in info:
            ends.append(info["trial_episode"])
    assert env.episodes == 3 and ends == [0, 1, 2]


class _TwoActions(gym.Env):
    """A flat observation and a 2-d action Box with different bounds per dimension."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(np.array([-1.0, -2.0], np.float32), np.array([1.0, 2.0], np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.ones(3, np.float32), 0.5, False, False, {}


def test_vector_actions_keep_their_per_dimension_bounds_and_values() -> None:
    env = TrialWrapper(_TwoActions(), episodes=1)
    assert env.observation_space.low[3:5].tolist() == [-1.0, -2.0]
    assert env.observation_space.high[3:5].tolist() == [1.0, 2.0]
    env.reset(seed=0)
    obs, *_ = env.step(np.array([0.5, -1.5], np.float32))
    assert obs.tolist() == [1.0, 1.0, 1.0, 0.5, -1.5, 0.5, 0.0]


def test_a_two_dimensional_box_observation_is_a_one_line_error() -> None:
    env = gym.wrappers.ReshapeObservation(gym.make("CartPole-v1"), (2, 2))
    with pytest.raises(SimtransferError, match="trial needs a flat Box observation") as exc:
        TrialWrapper(env)
    assert "\n" not in str(exc.value)


def test_unwrapped_params_are_the_randomizers_current_ones() -> None:
    env = TrialWrapper(make_env(SPEC), episodes=2)
    _, info = env.reset(seed=0)
    assert env.unwrapped_params() == info["params"] and info["params"]
    plain = TrialWrapper(gym.make("CartPole-v1"))
    assert plain.randomizer is None and plain.unwrapped_params() == {}
