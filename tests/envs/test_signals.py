"""Actuator/sensor parameters in the randomization spec: each effect, per-episode draws, splits, info."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import simtransfer.envs  # noqa: F401  (registers the ids)
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.params import ParameterSpace, make_targets
from simtransfer.envs.signals import SignalModel

ID = "simtransfer/InvertedPendulum-v0"


def _env(params):
    return gym.make(ID, randomization={"params": params})


def _fixed(v):
    return {"dist": "categorical", "choices": [v]}


def _roll(env, actions, seed=3):
    obs, info = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, *_ = env.step(np.array([a], np.float32))
        out.append(obs)
    return np.array(out), info


ACTIONS = [0.9, -0.7, 0.5, 0.8, -0.2, 0.3]


def test_action_latency_delays_actions_by_whole_steps():
    ref, _ = _roll(_env({"mass": _fixed(1.0)}), [0.0, 0.0, *ACTIONS[:-2]])
    got, info = _roll(_env({"action_latency": _fixed(2)}), ACTIONS)
    assert info["params"]["action_latency"] == 2.0
    np.testing.assert_allclose(got, ref, atol=1e-6)
    undelayed, _ = _roll(_env({"action_latency": _fixed(0)}), ACTIONS)
    assert not np.allclose(undelayed, got)


def test_obs_latency_returns_the_observation_of_k_steps_ago():
    ref, _ = _roll(_env({"mass": _fixed(1.0)}), ACTIONS)
    got, _ = _roll(_env({"obs_latency": _fixed(1)}), ACTIONS)
    np.testing.assert_allclose(got[1:], ref[:-1], atol=1e-6)
    np.testing.assert_allclose(got[0], ref[0])


def test_control_period_repeats_each_action():
    ref, _ = _roll(_env({"mass": _fixed(1.0)}), [a for a in ACTIONS[:2] for _ in range(3)])
    got, _ = _roll(_env({"control_period": _fixed(3)}), ACTIONS[:2])
    np.testing.assert_allclose(got[1:], ref[3::3], atol=1e-6)


def test_obs_noise_and_bias_are_seeded_and_sized():
    ref, _ = _roll(_env({"mass": _fixed(1.0)}), ACTIONS)
    a, _ = _roll(_env({"obs_noise": _fixed(0.05)}), ACTIONS)
    b, _ = _roll(_env({"obs_noise": _fixed(0.05)}), ACTIONS)
    np.testing.assert_array_equal(a, b)
    assert 0.02 < np.std(a - ref) < 0.08
    biased, _ = _roll(_env({"obs_bias": _fixed(0.1)}), ACTIONS)
    offset = biased - ref
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-5)
    assert np.abs(offset[0]).max() > 1e-3


def test_action_noise_changes_the_applied_action():
    ref, _ = _roll(_env({"mass": _fixed(1.0)}), ACTIONS)
    got, _ = _roll(_env({"action_noise": _fixed(0.3)}), ACTIONS)
    assert not np.allclose(got, ref)


def test_latency_is_drawn_per_episode_and_reported_in_info():
    env = _env({"action_latency": {"dist": "categorical", "choices": [0, 1, 3]}, "mass": {"low": 0.8, "high": 1.2}})
    seen = {env.reset(seed=s)[1]["params"]["action_latency"] for s in range(20)}
    assert seen == {0.0, 1.0, 3.0}


def test_extrap_split_draws_signals_outside_the_training_range():
    space = ParameterSpace.from_mapping({"obs_noise": {"low": 0.0, "high": 0.02},
                                         "action_latency": {"low": 0, "high": 2}})
    for t in make_targets(space, "extrap", seed=0, n=5):
        assert t["obs_noise"] > 0.02 or t["action_latency"] > 2


def test_signal_parameters_are_validated():
    with pytest.raises(SimtransferError, match="obs_noise.*cannot be relative"):
        ParameterSpace.from_mapping({"obs_noise": {"low": 0.0, "high": 0.1, "relative": True}})
    with pytest.raises(SimtransferError, match="takes no label"):
        _env({"obs_noise@slider": _fixed(0.1)})
    with pytest.raises(SimtransferError, match="outside the valid bounds"):
        ParameterSpace.from_mapping({"control_period": {"low": 0, "high": 2}})


def test_adr_pins_a_signal_parameter_and_the_signal_model_applies_it():
    env = gym.make(ID, randomization={"params": {"obs_noise": {"low": 0.0, "high": 0.05}},
                                      "adr": {"params": ["obs_noise"], "init": "range", "boundary_prob": 1.0,
                                              "threshold_low": 0, "threshold_high": 2000}})
    model = env
    while not isinstance(model, SignalModel):  # the signal model in the wrapper stack
        model = model.env
    seen = set()
    for s in range(6):
        value = env.reset(seed=s)[1]["params"]["obs_noise"]
        assert model.values["obs_noise"] == value
        seen.add(round(value, 6))
    assert seen == {0.0, 0.05}


def test_adding_signal_parameters_leaves_the_physics_of_held_out_sets_unchanged():
    physics = {"mass": {"low": 0.7, "high": 1.3}, "motor_gain": {"dist": "loguniform", "low": 0.5, "high": 2.0}}
    both = {**physics, "obs_noise": {"low": 0.0, "high": 0.01}, "action_latency": {"low": 0, "high": 1}}
    for split in ("interp", "extrap"):
        before = make_targets(ParameterSpace.from_mapping(physics), split, seed=3, n=4)
        after = make_targets(ParameterSpace.from_mapping(both), split, seed=3, n=4)
        assert [{k: t[k] for k in physics} for t in after] == before
