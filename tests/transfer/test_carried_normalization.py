"""Carried VecNormalize statistics: copied from the source, frozen on the target by default, re-estimated or left
to update when asked (what the mutation run of transfer/methods/common.py found untested)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simtransfer.agents.policy_io import read_weights
from simtransfer.experiments.config import resolve_train_config
from simtransfer.experiments.train import train
from simtransfer.transfer.api import transfer
from simtransfer.transfer.methods import get_method

PEND = "InvertedPendulumBulletEnv-v0"
PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 1}
KEYS = ("obs_rms.mean", "obs_rms.var", "obs_rms.count", "ret_rms.mean", "ret_rms.var", "ret_rms.count")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    raw = {"env": PEND, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False, "n_envs": 1,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"}, "hyperparams": PPO,
           "total_timesteps": 128, "policy": {"net_arch": [8]}, "normalize": {"enabled": True}}
    out = tmp_path_factory.mktemp("norm") / "src"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


def _stats(run: Path) -> dict[str, np.ndarray]:
    vn = read_weights(run / "policy.safetensors")[1]
    return {k: np.asarray(vn[f"vecnormalize.{k}"], dtype=np.float64) for k in KEYS}


def _transfer(source: Path, out: Path, **options) -> dict[str, np.ndarray]:
    transfer(source, PEND, "finetune", out_dir=out, timesteps=128, options={"pull_coef": 0, **options}, quiet=True)
    return _stats(out)


def test_carried_statistics_are_the_sources_and_stay_frozen_by_default(source, tmp_path):
    src, got = _stats(source), _transfer(source, tmp_path / "ft")
    for k in KEYS:
        assert np.array_equal(src[k], got[k]), k
    assert src["obs_rms.count"] > 1 and src["ret_rms.count"] > 1  # the source really learned statistics


def test_unfrozen_statistics_start_from_the_sources_and_keep_counting(source, tmp_path):
    src = _stats(source)
    got = _transfer(source, tmp_path / "ft", freeze_obs_stats=False, freeze_reward_stats=False)
    for rms in ("obs_rms", "ret_rms"):  # the source's count plus the target's 128 steps (and its first reset)
        assert src[f"{rms}.count"][0] + 128 <= got[f"{rms}.count"][0] <= src[f"{rms}.count"][0] + 130
    assert not np.array_equal(got["obs_rms.mean"], src["obs_rms.mean"])


def test_reestimated_statistics_ignore_the_source(source, tmp_path):
    src, got = _stats(source), _transfer(source, tmp_path / "ft", normalization="reestimate")
    assert got["obs_rms.count"][0] <= 130  # the target's own 128 steps only, not added to the source's count
    assert not np.array_equal(got["obs_rms.mean"], src["obs_rms.mean"])


def test_keep_options_defaults():
    """The defaults the keep_source benchmark chose (docs/transfer.md): a change is a change of behaviour."""
    for name in ("finetune", "freeze", "l2sp"):
        opts = get_method(name).parse_options({})
        assert (opts.freeze_obs_stats, opts.freeze_reward_stats) == (True, True)
        assert (opts.critic_warmup, opts.pull_coef, opts.pull_kind, opts.pull_decay_steps) == (0, 10.0, "kl", None)
