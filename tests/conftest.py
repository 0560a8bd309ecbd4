"""Shared, seeded fixtures. W&B never touches the network in tests."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
