"""Shared, seeded fixtures. W&B never touches the network in tests."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

# small MLPs on 2 cores: a second torch thread only adds contention (SAC learn(256): 108 s vs 10 s seen here)
torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
