"""ADR declared in a training config's randomization spec runs through ``simtransfer train``."""

from __future__ import annotations

import csv

from simtransfer.experiments.config import resolve_train_config
from simtransfer.experiments.train import train


def test_adr_from_config_logs_ranges_and_checkpoints_state(tmp_path):
    cfg = resolve_train_config({
        "env": {"id": "simtransfer/InvertedPendulum-v0",
                "randomization": {"params": {"mass": {"low": 0.8, "high": 1.2}},
                                  "adr": {"boundary_prob": 1.0, "buffer_size": 2, "threshold_low": 0.0,
                                          "threshold_high": 5.0, "delta": 0.5}}},
        "algo": "ppo", "total_timesteps": 512, "n_envs": 1, "seed": 0,
        "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
        "eval": {"every": 0, "episodes": 1, "train": False}, "checkpoint_every": 256,
        "tracking": {"mode": "disabled"}, "progress": False,
    })
    train(cfg, tmp_path / "run")
    with (tmp_path / "run" / "progress.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    highs = [float(r["adr/mass_high"]) for r in rows if r.get("adr/mass_high")]
    assert highs, "ADR ranges are not logged to progress.csv"
    assert max(highs) > 1.0  # a random pendulum policy easily returns > 5: the upper boundary widened
