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


@pytest.fixture
def one_thread():
    """One torch thread for the test, restored after (the suite already runs with one; tests that change it
    for themselves say so by asking for this fixture)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def trust_test_helpers(monkeypatch):
    """Let configs name the test helpers' envs and wrappers (``tests.agents.runs:NanAfter``, ...): code outside
    simtransfer runs only from trusted modules (envs/trust.py)."""
    monkeypatch.setenv("SIMTRANSFER_TRUST", "tests.agents.runs")
