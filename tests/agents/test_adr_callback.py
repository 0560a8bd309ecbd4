"""ADR and curriculum callbacks with SB3: logging to progress.csv, plots, checkpoints, SubprocVecEnv workers."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from simtransfer import envs  # noqa: F401
from simtransfer.agents.adr_callback import (
    ADRCallback,
    ADRController,
    plot_adr_ranges,
    range_callbacks,
    range_state,
)
from simtransfer.envs.errors import SimtransferError

ADR = {"params": ["mass", "gravity"], "threshold_low": 5.0, "threshold_high": 12.0, "buffer_size": 2,
       "boundary_prob": 1.0, "delta": 0.5}
SPEC = {"id": "simtransfer/InvertedPendulum-v0", "kwargs": {"max_episode_steps": 15},
        "wrappers": [{"type": "simtransfer.envs.adr:ADRRandomization", "kwargs": ADR}]}



def _pipeline(seed: int = 0):
    """The training pipeline's own pieces: TrainConfig -> make_training_env (VecNormalize) -> build_model."""
    from simtransfer.agents.algos import build_model
    from simtransfer.agents.vecenv import make_training_env
    from simtransfer.experiments.config import resolve_train_config

    cfg = resolve_train_config({"env": SPEC, "algo": "ppo", "seed": seed, "n_envs": 2, "normalize": True,
                                "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
                                "tracking": {"mode": "disabled"}}, use_defaults=False)
    venv = make_training_env(cfg)
    return venv, build_model("ppo", venv, hyperparams=cfg.hyperparams, policy=cfg.policy.model_dump(), seed=seed)


def test_adr_callback_logs_ranges_to_progress_csv_and_plots(tmp_path, one_thread):
    import pandas as pd
    from stable_baselines3.common.logger import configure

    venv, model = _pipeline()
    model.set_logger(configure(str(tmp_path), ["csv"]))
    cbs = range_callbacks(venv)
    assert [type(c) for c in cbs] == [ADRCallback]
    model.learn(640, callback=cbs)
    state = cbs[0].controller.state
    assert state.n_updates > 0  # the pendulum stays up for 15 steps: boundaries widen
    df = pd.read_csv(tmp_path / "progress.csv")
    for name in ("mass", "gravity"):
        lo, hi = df[f"adr/{name}_low"].to_numpy(), df[f"adr/{name}_high"].to_numpy()
        assert np.all(np.diff(hi) >= 0) and np.all(np.diff(lo) <= 0) and hi[-1] > lo[-1]
    assert df["adr/mass_high"].iloc[-1] <= state.ranges["mass"][1]  # logged at each rollout end
    assert venv.env_method("get_adr_ranges") == [state.ranges, state.ranges]
    png = plot_adr_ranges(tmp_path / "progress.csv", tmp_path / "ranges.png")
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SimtransferError, match="no ADR columns for friction"):
        plot_adr_ranges(tmp_path / "progress.csv", tmp_path / "x.png", params=["friction"])
    (tmp_path / "plain.csv").write_text("time/total_timesteps,rollout/ep_rew_mean\n1,2\n")
    with pytest.raises(SimtransferError, match="no adr/"):
        plot_adr_ranges(tmp_path / "plain.csv", tmp_path / "x.png")
    venv.close()


def test_adr_state_survives_a_checkpoint(tmp_path, one_thread):
    """What experiments/train.py does with the hook: range_state() into the checkpoint, range_callbacks(state)."""
    from simtransfer.agents.checkpoint import read_checkpoint, restore_checkpoint, save_checkpoint
    from simtransfer.agents.vecenv import find_vec_normalize

    venv, model = _pipeline()
    cbs = range_callbacks(venv)
    model.learn(512, callback=cbs)
    saved = range_state(cbs)
    assert saved is not None and saved["n_updates"] > 0
    assert json.loads(json.dumps(saved)) == saved
    path = save_checkpoint(tmp_path / "step.safetensors", model, find_vec_normalize(venv), {"adr": saved})
    venv.close()

    venv2, model2 = _pipeline()
    meta = restore_checkpoint(path, model2, find_vec_normalize(venv2))
    assert meta["extra"]["adr"] == read_checkpoint(path)[0]["extra"]["adr"] == saved
    cbs2 = range_callbacks(venv2, meta["extra"]["adr"])
    assert range_state(cbs2) == saved  # before training starts: the state it resumes from
    from stable_baselines3.common.logger import Logger

    model2.set_logger(Logger(None, []))
    cbs2[0].init_callback(model2)
    ranges = {k: tuple(v) for k, v in saved["ranges"].items()}
    assert venv2.env_method("get_adr_ranges") == [ranges, ranges]  # pushed to the workers on start
    model2.learn(128, callback=cbs2, reset_num_timesteps=False)
    assert cbs2[0].controller.state.n_results >= saved["n_results"]
    venv2.close()


def test_subprocess_workers_share_one_adr_state():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from simtransfer.agents.vecenv import _factory

    venv = SubprocVecEnv([functools.partial(_factory, SPEC, [], i) for i in range(2)])
    venv.seed(0)
    venv.reset()
    ctl = ADRController(venv)
    for _ in range(300):
        _, _, dones, infos = venv.step(np.zeros((2, 1), dtype=np.float32))
        ctl.process(infos, dones)
    assert ctl.state.n_updates > 0
    assert venv.env_method("get_adr_ranges") == [ctl.state.ranges, ctl.state.ranges]
    venv.close()


def test_controller_errors():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simtransfer.agents.vecenv import make_single_env

    plain = DummyVecEnv([lambda: make_single_env("simtransfer/InvertedPendulum-v0", [])])
    with pytest.raises(SimtransferError, match="no ADR wrapper"):
        ADRController(plain)
    assert range_callbacks(plain) == [] and range_state([]) is None
    plain.close()
    other = {**SPEC, "wrappers": [{"type": "simtransfer.envs.adr:ADRRandomization", "kwargs": {**ADR, "delta": 0.1}}]}
    mixed = DummyVecEnv([lambda: make_single_env(SPEC, []), lambda: make_single_env(other, [])])
    with pytest.raises(SimtransferError, match="different ADR configs"):
        ADRController(mixed)
    mixed.close()


def test_adr_section_in_a_randomization_spec_through_a_shim():
    """The schema hook the lead adds to envs/randomization.py (an ``adr:`` section), emulated locally."""
    import gymnasium as gym

    from simtransfer.envs.adr import ADRRandomization
    from simtransfer.envs.randomization import apply_randomization
    from simtransfer.envs.registry import TASKS, preset
    from simtransfer.envs.spec import import_object

    def apply_randomization_with_adr(env: gym.Env, mapping: dict) -> gym.Env:  # the hook, as a shim
        mapping = dict(mapping)
        adr = mapping.pop("adr", None)
        wrapped = apply_randomization(env, mapping)
        return ADRRandomization(wrapped, **adr) if adr is not None else wrapped

    mapping = {**preset("InvertedPendulum"), "adr": {**ADR, "init": "range"}}
    base = import_object(TASKS["InvertedPendulum"].entry_point)()
    env = gym.wrappers.TimeLimit(apply_randomization_with_adr(base, mapping), max_episode_steps=15)
    _, info = env.reset(seed=0)
    assert info["adr_ranges"]["mass"] == (0.7, 1.3) and "lateral_friction" in info["params"]
    done = False
    while not done:
        _, _, term, trunc, info = env.step(np.zeros(1, dtype=np.float32))
        done = term or trunc
    assert info["adr"]["param"] in ("mass", "gravity")
    env.close()
