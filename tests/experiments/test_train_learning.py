"""Slow learning check: the shipped PPO config solves the randomized InvertedPendulum within 60k steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from simtransfer.experiments.config import load_train_config
from simtransfer.experiments.train import train

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "inverted_pendulum.yaml"


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_solves_randomized_inverted_pendulum(tmp_path, seed):
    cfg = load_train_config(CONFIG, ["total_timesteps=60000", "eval.every=5000", "eval.episodes=10",
                                     "eval.targets=[]", "tracking.mode=disabled", "checkpoint_every=0",
                                     "progress=false", "eval.stop_at=950"], seed=seed)
    assert cfg.env.id == "simtransfer/InvertedPendulum-v0"
    result = train(cfg, tmp_path / "run")
    best = max(result.curves["train"]["mean_return"])
    assert best >= 950, result.curves["train"]
