"""Per-task heads without training: how a task code mixes heads, how the heads start, which sources transfer."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from simtransfer.agents.multitask import MultiTaskHeadsPolicy, TaskHeads, check_single_head
from simtransfer.envs.errors import SimtransferError


def test_a_code_naming_several_tasks_averages_their_heads():
    torch.manual_seed(0)
    heads = TaskHeads(in_dim=3, out_dim=2, n_tasks=3)
    latent = torch.randn(1, 3)
    outs = [heads(torch.cat([latent, torch.eye(3)[k:k + 1]], dim=1)) for k in range(3)]
    both = heads(torch.cat([latent, torch.tensor([[1.0, 1.0, 0.0]])], dim=1))
    assert torch.allclose(both, (outs[0] + outs[1]) / 2, atol=1e-6)


def test_heads_start_like_nn_linear():
    """Without orthogonal init the weights are uniform in +-1/sqrt(in_dim), as nn.Linear's."""
    torch.manual_seed(0)
    weight = TaskHeads(in_dim=100, out_dim=10, n_tasks=5).weight.detach().abs()
    assert 0.098 < float(weight.max()) <= 0.1


def _policy(n_tasks: int, **kwargs) -> MultiTaskHeadsPolicy:
    obs = gym.spaces.Box(-1.0, 1.0, (4 + n_tasks,), np.float32)
    return MultiTaskHeadsPolicy(obs, gym.spaces.Discrete(2), lambda _: 3e-4, n_tasks=n_tasks, net_arch=[8], **kwargs)


def test_one_task_is_a_valid_heads_policy_and_zero_is_refused():
    assert _policy(1).action_net.weight.shape == (2, 8)
    with pytest.raises(ValueError, match="n_tasks must be >= 1, got 0"):
        _policy(0)


def test_orthogonal_init_gives_each_task_its_own_orthogonal_head():
    """SB3's gains: 0.01 for the action head, 1 for the value head, block by block (one block per task)."""
    torch.manual_seed(0)
    policy = _policy(3)
    for head, gain in ((policy.action_net, 0.01), (policy.value_net, 1.0)):
        for block in head.weight.detach().view(3, head.out_dim, head.in_dim):
            np.testing.assert_allclose((block @ block.T).numpy(), gain ** 2 * np.eye(head.out_dim), atol=1e-6)
        assert not head.bias.detach().any()


def test_only_a_source_with_per_task_heads_is_refused():
    heads = SimpleNamespace(config={"policy": {"policy_class": "multitask_heads"}}, path="runs/heads")
    plain = SimpleNamespace(config={"policy": {"net_arch": [16]}}, path="runs/plain")
    unset = SimpleNamespace(config={"policy": None}, path="runs/unset")
    check_single_head([plain, unset], "progressive")
    with pytest.raises(SimtransferError, match="method 'progressive' needs a source with one action head; "
                                               "runs/heads has per-task heads"):
        check_single_head([plain, heads], "progressive")
