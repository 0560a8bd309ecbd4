"""Reality stand-ins: the harder InvertedPendulum one (simtransfer/InvertedPendulumRealHard-v0) applies its own
reality.yaml entry, the old stand-in keeps its values, and an unknown stand-in is a one-line error."""

from __future__ import annotations

import gymnasium as gym
import pytest

import simtransfer.envs  # noqa: F401  (registers the ids)
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.reality import reality_spec, true_params


@pytest.mark.parametrize("env_id,standin", [("simtransfer/InvertedPendulumReal-v0", None),
                                            ("simtransfer/InvertedPendulumRealHard-v0", "InvertedPendulumHard")])
def test_each_standin_applies_its_own_entry(env_id, standin):
    env = gym.make(env_id)
    try:
        params = env.reset(seed=0)[1]["params"]
    finally:
        env.close()
    truth = true_params("InvertedPendulum", standin)
    assert {k: params[k] for k in truth} == pytest.approx(truth)


def test_the_hard_standin_differs_and_the_old_one_is_unchanged():
    old, hard = true_params("InvertedPendulum"), true_params("InvertedPendulum", "InvertedPendulumHard")
    assert old == {"action_latency": 2.0, "obs_noise": 0.02, "motor_gain": 0.4, "mass@pole": 2.0}
    assert hard != old and "task" not in reality_spec("InvertedPendulum", "InvertedPendulumHard")


def test_unknown_standins_are_one_line_errors():
    with pytest.raises(SimtransferError, match=r"no reality stand-in 'Nope' for 'InvertedPendulum' \(available: "
                                               r"InvertedPendulumHard\)"):
        true_params("InvertedPendulum", "Nope")
    with pytest.raises(SimtransferError, match="no reality stand-in 'InvertedPendulumHard' for 'Hopper'"):
        reality_spec("Hopper", "InvertedPendulumHard")
