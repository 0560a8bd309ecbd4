"""Sensor and actuator wrappers: each does one thing, is seeded by reset, and they compose."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import make_env
from simtransfer.envs.tasks import preset
from simtransfer.envs.wrappers import (
    WRAPPERS,
    ActionLatency,
    ActionNoise,
    ActionRepeat,
    ContextObservation,
    ObservationBias,
    ObservationNoise,
    RandomPush,
)
from tests.checkers import check_env_strict

PENDULUM = "simtransfer/InvertedPendulumNominal-v0"


def rollout(env: gym.Env, seed: int, actions: list) -> np.ndarray:
    obs = [env.reset(seed=seed)[0]]
    for a in actions:
        obs.append(env.step(a)[0])
    return np.array(obs)


ZEROS = [np.zeros(1, dtype=np.float32)] * 10


def test_short_names() -> None:
    assert {"obs_noise", "obs_bias", "action_noise", "action_latency", "action_repeat", "push",
            "context_obs"} <= set(WRAPPERS)


def test_obs_noise_is_seeded_and_zero_mean() -> None:
    clean = rollout(gym.make(PENDULUM), 0, ZEROS)
    env = ObservationNoise(gym.make(PENDULUM), std=0.1)
    a, b, c = rollout(env, 0, ZEROS), rollout(env, 0, ZEROS), rollout(env, 1, ZEROS)
    assert np.array_equal(a, b) and not np.array_equal(a[:3], c[:3])
    noise = a - clean
    assert 0.05 < noise.std() < 0.15 and abs(noise.mean()) < 0.05


def test_obs_bias_is_constant_within_an_episode() -> None:
    clean = rollout(gym.make(PENDULUM), 0, ZEROS)
    env = ObservationBias(gym.make(PENDULUM), std=0.5)
    diff = rollout(env, 0, ZEROS) - clean
    assert np.allclose(diff, diff[0], atol=1e-5) and np.abs(diff[0]).max() > 0.01
    env.reset()
    assert not np.allclose(env.bias, diff[0])  # a new bias next episode


def test_action_noise_changes_actions_within_bounds() -> None:
    env = ActionNoise(gym.make(PENDULUM), std=0.3)
    env.reset(seed=0)
    acts = np.array([env.action(np.array([0.9], dtype=np.float32)) for _ in range(200)])
    assert acts.max() <= 1.0 and acts.min() >= -1.0 and acts.std() > 0.1


def test_action_latency_delays_by_k_steps() -> None:
    push = [np.ones(1, dtype=np.float32)] + ZEROS
    direct = rollout(gym.make(PENDULUM), 0, push)
    delayed = rollout(gym.make(PENDULUM), 0, ZEROS[:2] + push[:-2])
    late = rollout(ActionLatency(gym.make(PENDULUM), steps=2), 0, push)
    assert np.allclose(delayed, late)  # what was sent at t acts at t+2
    assert not np.allclose(direct, late)
    disc = ActionLatency(gym.make("simtransfer/CartPoleNominal-v0"), steps=1)
    disc.reset(seed=0)
    disc.step(1)


def test_action_repeat_sums_rewards() -> None:
    env = ActionRepeat(gym.make(PENDULUM), repeat=3)
    env.reset(seed=0)
    _, r, *_ = env.step(np.zeros(1, dtype=np.float32))
    assert r == 3.0
    plain = rollout(gym.make(PENDULUM), 0, ZEROS[:6])
    assert np.allclose(rollout(env, 0, ZEROS[:2])[-1], plain[-1])


def test_push_moves_the_robot_and_is_reported() -> None:
    still = rollout(gym.make("simtransfer/HopperNominal-v0"), 0, [np.zeros(3, dtype=np.float32)] * 5)
    env = RandomPush(gym.make("simtransfer/HopperNominal-v0"), force=500.0, prob=1.0, duration=2)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(3, dtype=np.float32))
    assert np.linalg.norm(info["push"]) > 0
    pushed = rollout(env, 0, [np.zeros(3, dtype=np.float32)] * 5)
    assert not np.allclose(still, pushed)
    with pytest.raises(SimtransferError, match="no link named"):
        RandomPush(gym.make("simtransfer/HopperNominal-v0"), link="wing").reset(seed=0)


def test_wrappers_compose_through_make_env() -> None:
    spec = {"id": "simtransfer/InvertedPendulum-v0", "wrappers": [
        {"type": "action_latency", "kwargs": {"steps": 1}},
        {"type": "action_noise", "kwargs": {"std": 0.05}},
        {"type": "obs_bias", "kwargs": {"std": 0.01}},
        {"type": "obs_noise", "kwargs": {"std": 0.01}},
        {"type": "push", "kwargs": {"force": 20.0, "prob": 0.5}},
        {"type": "context_obs"},
        {"type": "action_repeat", "kwargs": {"repeat": 2}},
    ]}
    a, b = make_env(spec, seed=0), make_env(spec, seed=0)
    ra, rb = rollout(a, 3, ZEROS), rollout(b, 3, ZEROS)
    n_params = len(preset("InvertedPendulum")["params"])  # physics, actuators and sensors
    assert ra.shape == (11, 5 + n_params) and np.array_equal(ra, rb)
    check_env_strict(a, allow=["wrapped", "unbounded_obs"], sb3=False)


@pytest.mark.parametrize(("cls", "kwargs", "msg"), [
    (ObservationNoise, {"std": -1.0}, "must not be negative"),
    (ObservationNoise, {"std": [0.1, 0.2]}, "expected a number or 5 numbers"),
    (ActionRepeat, {"repeat": 0}, "repeat must be >= 1"),
    (ActionLatency, {"steps": -1}, "steps must be >= 0"),
    (RandomPush, {"prob": 2.0}, "push: needs"),
    (ContextObservation, {}, "needs a physics randomizer"),
])
def test_bad_wrapper_arguments(cls, kwargs: dict, msg: str) -> None:
    base = gym.make("HopperBulletEnv-v0") if cls is ContextObservation else gym.make(PENDULUM)
    with pytest.raises(SimtransferError, match=msg):
        cls(base, **kwargs)


def test_action_noise_needs_box() -> None:
    with pytest.raises(SimtransferError, match="needs a Box space"):
        ActionNoise(gym.make("simtransfer/CartPoleNominal-v0"))
