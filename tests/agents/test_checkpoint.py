"""Checkpoints restore optimizer state, replay buffers, VecNormalize and RNG state; writes are atomic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from simtransfer.agents.algos import build_model
from simtransfer.agents.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from simtransfer.agents.vecenv import make_training_env
from simtransfer.envs.errors import SimtransferError
from tests.agents.runs import tiny_config


def _model(algo: str, normalize: bool = False):
    cfg = tiny_config(algo, normalize=normalize)
    venv = make_training_env(cfg)
    model = build_model(cfg.algo, venv, hyperparams=cfg.hyperparams, policy=cfg.policy.model_dump(), seed=0)
    return model, venv


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_round_trip_restores_everything(tmp_path, algo):
    model, venv = _model(algo, normalize=True)
    model.learn(128)
    vn = venv if isinstance(venv, VecNormalize) else None
    path = save_checkpoint(tmp_path / "c.safetensors", model, vn, {"curves": {"train": {"timesteps": [64]}}})
    rng_next = torch.rand(3)
    np_next = np.random.rand(3)

    fresh, fresh_venv = _model(algo, normalize=True)
    meta = restore_checkpoint(path, fresh, fresh_venv)
    assert meta["extra"]["curves"]["train"]["timesteps"] == [64]
    assert fresh.num_timesteps == model.num_timesteps and fresh._n_updates == model._n_updates
    for k, v in model.policy.state_dict().items():
        assert torch.equal(v, fresh.policy.state_dict()[k]), k
    for name, sd in model.get_parameters().items():
        if "optimizer" in name:
            restored = fresh.get_parameters()[name]
            for idx, state in sd["state"].items():
                for key, value in state.items():
                    assert torch.equal(torch.as_tensor(value), torch.as_tensor(restored["state"][idx][key]))
    np.testing.assert_array_equal(fresh_venv.obs_rms.mean, venv.obs_rms.mean)
    assert torch.equal(torch.rand(3), rng_next) and np.array_equal(np.random.rand(3), np_next)
    if algo == "sac":
        n = model.replay_buffer.pos
        assert fresh.replay_buffer.pos == n and n > 0
        np.testing.assert_array_equal(fresh.replay_buffer.observations[:n], model.replay_buffer.observations[:n])
        assert torch.equal(fresh.log_ent_coef, model.log_ent_coef)
    venv.close()
    fresh_venv.close()


def test_listing_ignores_temp_files_and_prunes(tmp_path):
    model, venv = _model("ppo")
    for step in (64, 128, 192):
        model.num_timesteps = step
        save_checkpoint(checkpoint_path(tmp_path, step), model)
    (tmp_path / ".step_000000256.safetensors.tmp123").write_bytes(b"half")
    assert latest_checkpoint(tmp_path).name == "step_000000192.safetensors"
    prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_000000128.safetensors", "step_000000192.safetensors"]
    assert not list(tmp_path.glob("*.tmp*")) or latest_checkpoint(tmp_path).suffix == ".safetensors"
    venv.close()


def test_corrupt_or_mismatched_checkpoint_is_an_error(tmp_path):
    model, venv = _model("ppo")
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    data = path.read_bytes()
    path.write_bytes(data[:100])
    with pytest.raises(SimtransferError, match="corrupt or truncated"):
        read_checkpoint(path)
    path.write_bytes(data)
    other = build_model("ppo", DummyVecEnv([lambda: __import__("gymnasium").make("Pendulum-v1")]),
                        hyperparams={"n_steps": 64, "batch_size": 32}, policy={"net_arch": [16, 16]}, seed=0)
    with pytest.raises(SimtransferError, match="does not fit"):
        restore_checkpoint(path, other)
    venv.close()
