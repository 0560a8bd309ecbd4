"""Calibration on a Hopper: its state is set from an observation (pitch rate from the one before), feet contacts
follow each step, the Hopper stand-in differs from the simulator where the issue says, and calibrate runs on it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import simtransfer.envs  # noqa: F401  (registers the ids)
from simtransfer.agents.collect import collect
from simtransfer.agents.trajectories import read_trajectories
from simtransfer.envs.reality import true_params
from simtransfer.envs.tasks import preset
from simtransfer.transfer.calibration import calibrate
from simtransfer.transfer.calibration.fit import prediction_cost
from simtransfer.transfer.calibration.simulator import Simulator, _BoundClient

SIM = "simtransfer/Hopper-v0"
TARGET = {"id": SIM, "kwargs": {"randomization": {"params": {
    "action_latency": {"dist": "categorical", "choices": [1]},
    "motor_gain": {"dist": "categorical", "choices": [0.7]}}}}}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    return collect("scripted", "simtransfer/HopperNominal-v0", tmp_path_factory.mktemp("h") / "data", episodes=4,
                   seed=3)


def test_the_hopper_standin_is_outside_the_training_ranges():
    truth = true_params("Hopper")
    assert truth["action_latency"] >= 2 and truth["obs_noise"] > 0
    train = preset("Hopper")["params"]
    assert not train["motor_gain"]["low"] <= truth["motor_gain"] <= train["motor_gain"]["high"]
    masses = {k: v for k, v in truth.items() if k.startswith("mass@")}
    assert len(masses) >= 2 and all(not train["mass"]["low"] <= v <= train["mass"]["high"] for v in masses.values())
    assert "mass@torso" not in masses  # the root keeps its mass (calibrate fixes it: gain and masses trade off)
    env = gym.make("simtransfer/HopperReal-v0")
    try:
        params = env.reset(seed=0)[1]["params"]
    finally:
        env.close()
    assert {k: params[k] for k in truth} == pytest.approx(truth)


def test_the_state_set_from_an_observation_reproduces_it(logged):
    sim = Simulator(SIM, ["motor_gain"], logged)
    try:
        assert isinstance(sim.robot._p, _BoundClient)
        ep = max(logged.episodes, key=len)
        for k in (0, 3, len(ep) - 2):
            sim._set(sim.robot, ep.observations[k], ep.observations[k - 1] if k else None, False)
            np.testing.assert_allclose(sim.robot.calc_state(), ep.observations[k], atol=2e-5)
    finally:
        sim.close()


def test_the_fast_observer_returns_the_robots_own_observation(logged):
    sim = Simulator(SIM, ["motor_gain"], logged)
    try:
        assert sim._observe != sim.robot.calc_state
        for ep in logged.episodes[:2]:
            for k in range(len(ep)):
                sim._set(sim.robot, ep.observations[k], ep.observations[k - 1] if k else None, False)
                sim.robot.apply_action(ep.actions[k])
                sim.scene.global_step()
                fast, own = sim._observe(), sim.robot.calc_state()
                assert fast.dtype == own.dtype
                np.testing.assert_array_equal(fast, own)
    finally:
        sim.close()


def test_predictions_follow_the_log_only_under_the_true_physics(logged):
    sim = Simulator(SIM, ["motor_gain"], logged)
    try:
        windows = [(e, 0) for e, ep in enumerate(logged.episodes) if len(ep) > 5]  # from rest: the rate is known
        target = np.stack([logged.episodes[e].observations[k + 1:k + 5] for e, k in windows])

        def err(gain: float, delay: int) -> float:
            return float(np.mean((sim.predict({"motor_gain": gain}, delay, windows, 4) - target) ** 2))

        assert err(1.0, 0) < 1e-9
        assert err(0.8, 0) > 1e-4 and err(1.0, 1) > 1e-4
    finally:
        sim.close()


def test_the_observer_carries_the_pitch_rate(logged):
    """Later windows start from a filtered state: with the rate correction the true physics fits best."""
    sim = Simulator(SIM, ["motor_gain"], logged)
    try:
        windows = [(e, k) for e, ep in enumerate(logged.episodes) for k in range(3, len(ep) - 3)]
        target = np.stack([logged.episodes[e].observations[k + 1:k + 4] for e, k in windows])

        def err(gain: float) -> float:
            return float(np.mean((sim.predict({"motor_gain": gain}, 0, windows, 3, warmup=3) - target) ** 2))

        assert err(1.0) < min(err(0.85), err(1.15))
    finally:
        sim.close()


def test_calibrate_finds_a_hopper_delay_and_gain(tmp_path):
    collect("scripted", TARGET, tmp_path / "data", episodes=10, seed=0)
    report = calibrate(tmp_path / "data", SIM, tmp_path / "calib", params=["motor_gain", "action_latency"],
                       horizon=4, max_windows=20, max_delay=2, budget=20, plot=False)
    est = {e["name"]: e for e in report["estimates"]}
    assert est["action_latency"]["value"] == 1
    assert est["motor_gain"]["value"] == pytest.approx(0.7, rel=0.1)
    assert (tmp_path / "calib" / "preset.yaml").is_file()
    # the benchmark's diagnosis recomputes the fit's own cost (same windows) at any values
    data = read_trajectories(tmp_path / "data")
    sim = Simulator(SIM, ["motor_gain"], data)
    try:
        kw = {"horizon": 4, "max_windows": 20, "seed": 0}
        at_fit = prediction_cost(sim, data, {"motor_gain": est["motor_gain"]["value"]}, 1, **kw)
        assert at_fit == pytest.approx(report["cost_fit"], rel=1e-9)
        assert prediction_cost(sim, data, {"motor_gain": 1.0}, 1, **kw) > at_fit
        assert prediction_cost(sim, data, {"motor_gain": est["motor_gain"]["value"]}, 0, **kw) > at_fit
    finally:
        sim.close()
