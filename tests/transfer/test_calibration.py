"""collect + calibrate: recovery on a synthetic target, outputs usable by train, one-line errors on bad input."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import simtransfer.envs  # noqa: F401
from simtransfer.agents.collect import collect
from simtransfer.agents.trajectories import TrajectoryWriter, read_trajectories
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.transfer.calibration import calibrate

SIM = "simtransfer/InvertedPendulum-v0"
TARGET = {"id": SIM, "kwargs": {"randomization": {"params": {
    "action_latency": {"dist": "categorical", "choices": [2]},
    "motor_gain": {"dist": "categorical", "choices": [0.5]}}}}}
FAST = {"horizon": 8, "max_windows": 30, "max_delay": 3, "budget": 30, "plot": False}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "data"
    data = collect("scripted", TARGET, path, episodes=10, seed=0)
    data.path = path
    return data


def test_collect_logs_raw_transitions_with_metadata(logged, tmp_path):
    assert len(logged.episodes) == 10 and logged.metadata["env_class"] == "InvertedPendulumBulletEnv"
    assert logged.metadata["source"] == "scripted" and logged.metadata["control_period"] > 0
    ep = logged.episodes[0]
    assert ep.terminations[-1] or ep.truncations[-1]
    np.testing.assert_allclose(np.diff(ep.timestamps), logged.metadata["control_period"])
    assert np.abs(ep.actions).max() <= 1.0 + 1e-6 and np.abs(ep.actions).max() > 0.05


def test_calibrate_recovers_latency_and_gain_and_writes_a_usable_preset(logged, tmp_path):
    logged_path = logged.path
    report = calibrate(logged_path, SIM, tmp_path / "cal", params=["motor_gain", "action_latency", "obs_latency"],
                       **FAST)
    est = {e["name"]: e for e in report["estimates"]}
    assert est["action_latency"]["value"] == 2 and est["action_latency"]["identified"]
    assert abs(est["motor_gain"]["value"] - 0.5) < 0.025 and est["motor_gain"]["identified"]
    assert est["motor_gain"]["low"] <= est["motor_gain"]["value"] <= est["motor_gain"]["high"]
    assert not est["obs_latency"]["identified"]
    assert json.loads((tmp_path / "cal" / "calibration.json").read_text())["sim"] == SIM
    assert "| motor_gain |" in (tmp_path / "cal" / "calibration.md").read_text()
    env = gym.make(SIM, randomization=str(tmp_path / "cal" / "preset.yaml"))
    params = env.reset(seed=0)[1]["params"]
    assert params["action_latency"] == 2 and abs(params["motor_gain"] - 0.5) < 0.05
    assert params["obs_latency"] == 0  # the fitted delay is the whole loop's: no sensor delay on top
    env.close()


def test_a_parameter_without_effect_is_reported_unidentifiable(logged, tmp_path):
    report = calibrate(_copy(logged, tmp_path / "d"), SIM, tmp_path / "cal",
                       params=["motor_gain", "restitution", "action_latency"], **{**FAST, "max_delay": 2})
    est = {e["name"]: e for e in report["estimates"]}
    assert not est["restitution"]["identified"] and est["motor_gain"]["identified"]


def _copy(data, path, *, env_class="InvertedPendulumBulletEnv", steps=None, obs=None):
    with TrajectoryWriter(path, env_id="x", observation_space=obs or data.observation_space,
                          action_space=data.action_space, metadata={"env_class": env_class}) as w:
        for ep in data.episodes:
            n = len(ep) if steps is None else min(steps, len(ep))
            w.start_episode(ep.observations[0][: (obs.shape[0] if obs else None)])
            for k in range(n):
                w.add_step(ep.actions[k], ep.observations[k + 1][: (obs.shape[0] if obs else None)], 1.0, False,
                           k == n - 1, t=0.1 * (k + 1))
            w.end_episode()
            if steps is not None:
                break
    return path


def _cli_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simtransfer: error:") and "\n" not in err
    return err


def test_bad_input_is_a_one_line_error_and_overwrites_nothing(logged, tmp_path, capsys):
    good = _copy(logged, tmp_path / "good")
    other = _copy(logged, tmp_path / "other", env_class="HopperBulletEnv")
    short = _copy(logged, tmp_path / "short", steps=3)
    narrow = _copy(logged, tmp_path / "narrow", obs=gym.spaces.Box(-np.inf, np.inf, (3,), np.float64))
    out = tmp_path / "out"
    base = ["calibrate", "--env", SIM, "--out", str(out), "--budget", "10", "--max-delay", "0", "--no-plot"]
    assert "not of the simulator" in _cli_error(capsys, [*base, str(other)])
    assert "field 'observations' has shape (3,)" in _cli_error(capsys, [*base, str(narrow)])
    assert "too few steps" in _cli_error(capsys, [*base, str(short)])
    assert "no name matches" in _cli_error(capsys, [*base, str(good), "--params", "mass@wing"])
    assert "unknown parameter 'wing_flex'" in _cli_error(capsys, [*base, str(good), "--params", "wing_flex"])
    assert not out.exists()
    out.mkdir()
    (out / "preset.yaml").write_text("earlier: result\n")
    assert "never overwritten" in _cli_error(capsys, [*base, str(good)])
    assert (out / "preset.yaml").read_text() == "earlier: result\n"


def test_nan_in_a_log_is_refused(logged, tmp_path, capsys):
    path = _copy(logged, tmp_path / "nan")
    import h5py

    with h5py.File(path / "main_data.hdf5", "r+") as f:
        f["episode_0/observations"][2, 1] = np.nan
    with pytest.raises(SimtransferError, match="episode 0: field 'observations' holds NaN"):
        read_trajectories(path)
    assert "holds NaN" in _cli_error(capsys, ["calibrate", str(path), "--env", SIM, "--out", str(tmp_path / "o")])


def test_collect_cli_converts_plain_arrays_and_refuses_to_overwrite(logged, tmp_path, capsys):
    ep = logged.episodes[0]
    T = len(ep)
    np.savez(tmp_path / "log.npz", episode=np.zeros(T + 1), t=ep.timestamps, observations=ep.observations,
             actions=np.vstack([ep.actions, np.full((1, 1), np.nan)]), reward=np.r_[ep.rewards, np.nan],
             terminated=np.r_[ep.terminations, 0].astype(float), truncated=np.r_[ep.truncations, 0].astype(float))
    assert main(["collect", "-", "--from-arrays", str(tmp_path / "log.npz"), "--target", SIM,
                 "--out", str(tmp_path / "conv")]) == 0
    np.testing.assert_allclose(read_trajectories(tmp_path / "conv").episodes[0].actions, ep.actions)
    capsys.readouterr()
    assert "already exists" in _cli_error(capsys, ["collect", "random", "--target", SIM, "--out",
                                                   str(tmp_path / "conv"), "--episodes", "1"])
    assert len(read_trajectories(tmp_path / "conv").episodes) == 1


def test_collect_from_a_run_logs_below_its_adapters(tmp_path):
    from simtransfer.agents.train import train
    from tests.agents.runs import tiny_config

    cfg = tiny_config(env="simtransfer/InvertedPendulumNominal-v0", total_timesteps=64,
                      adapters=[{"type": "history", "kwargs": {"k": 3}}], eval={"every": 0, "episodes": 1},
                      checkpoint_every=0)
    run = train(cfg, tmp_path / "run", force=True).run_dir
    data = collect(run, "simtransfer/InvertedPendulumNominal-v0", tmp_path / "data", episodes=2, seed=1,
                   max_steps=20)
    assert data.observation_space.shape == (5,) and data.metadata["source"] == f"run {run}"
    assert all(len(e) <= 20 for e in data.episodes) and len(data.episodes) == 2
