"""Per-task heads on a shared trunk: an SB3 actor-critic policy for multi-task runs (PPO, A2C).

The observation ends with the task one-hot (:class:`~simtransfer.envs.multitask.TaskOneHot`, added by
``multitask.task_id: onehot``). The trunk (features extractor and hidden layers) is shared; the action and
value heads are ``n_tasks`` linear heads each, and the one-hot picks one. Its entries are read by sign (``> 0``:
active), which survives ``VecNormalize``: an active entry normalises above 0, an inactive one below. An
observation with no active entry (a held-out target: all zeros) gets the mean of the heads.

Configs name the class by its registered short name (``policy_class: multitask_heads``, envs/components.py).
The heads keep SB3's names (``action_net.weight``, ``value_net.weight``, one row block per task), so layer
addressing (``transfer/layers.py``) and weight reuse treat them as heads.

>>> import torch
>>> heads = TaskHeads(in_dim=3, out_dim=2, n_tasks=2)
>>> x = torch.zeros(4, 3 + 2)                  # latent, then the one-hot
>>> x[0, 3], x[1, 4] = 1.0, 1.0                 # rows 0, 1: task 0, task 1; rows 2, 3: unknown
>>> heads(x).shape
torch.Size([4, 2])
>>> bool(torch.allclose(heads(x)[2], (heads(x)[0] + heads(x)[1]) / 2))
True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import MlpExtractor
from torch import nn

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.multitask import HEADS


class TaskHeads(nn.Module):
    """``n_tasks`` linear heads ``in_dim → out_dim``; the input's last ``n_tasks`` entries select (mean if none)."""

    def __init__(self, in_dim: int, out_dim: int, n_tasks: int) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.n_tasks = int(in_dim), int(out_dim), int(n_tasks)
        self.weight = nn.Parameter(torch.empty(self.n_tasks * self.out_dim, self.in_dim))
        self.bias = nn.Parameter(torch.zeros(self.n_tasks * self.out_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latent, code = x[..., : self.in_dim], x[..., self.in_dim:]
        out = nn.functional.linear(latent, self.weight, self.bias).unflatten(-1, (self.n_tasks, self.out_dim))
        w = (code > 0).to(out.dtype)
        count = w.sum(-1, keepdim=True)
        w = torch.where(count > 0, w / count.clamp(min=1.0), torch.full_like(w, 1.0 / self.n_tasks))
        return (out * w.unsqueeze(-1)).sum(-2)


class TaskCodedExtractor(MlpExtractor):
    """SB3's ``MlpExtractor`` whose latents carry the observation's last ``n_tasks`` entries (the task code)."""

    def __init__(self, feature_dim: int, net_arch: Any, activation_fn: type[nn.Module], device: Any,
                 n_tasks: int) -> None:
        super().__init__(feature_dim, net_arch, activation_fn, device)
        self.n_tasks = int(n_tasks)
        self.latent_dim_pi += self.n_tasks
        self.latent_dim_vf += self.n_tasks

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.policy_net(features), features[..., -self.n_tasks:]], dim=-1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.value_net(features), features[..., -self.n_tasks:]], dim=-1)


class MultiTaskHeadsPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` with a shared trunk and per-task action and value heads (``n_tasks`` of each)."""

    def __init__(self, *args: Any, n_tasks: int, **kwargs: Any) -> None:
        if int(n_tasks) < 1:
            raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
        self.n_tasks = int(n_tasks)  # _build (called by the base constructor) needs it
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TaskCodedExtractor(self.features_dim, self.net_arch, self.activation_fn, self.device,
                                                self.n_tasks)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        k = self.n_tasks
        out = self.action_net.out_features
        self.action_net = TaskHeads(self.mlp_extractor.latent_dim_pi - k, out, k)
        self.value_net = TaskHeads(self.mlp_extractor.latent_dim_vf - k, 1, k)
        if self.ortho_init:
            for head, gain in ((self.action_net, 0.01), (self.value_net, 1.0)):
                for block in head.weight.data.view(k, head.out_dim, head.in_dim):
                    nn.init.orthogonal_(block, gain=gain)
                head.bias.data.zero_()
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "n_tasks": self.n_tasks}


def check_single_head(sources: list[Any], method: str) -> None:
    """A one-line error when a source run (``.config``, ``.path``) has per-task heads and ``method`` needs one
    action head per source."""
    for src in sources:
        if (src.config.get("policy") or {}).get("policy_class") in HEADS:
            raise SimtransferError(
                f"method '{method}' needs a source with one action head; {src.path} has per-task heads "
                "(policy_class multitask_heads): transfer it with zeroshot, finetune, freeze or features, or "
                "train the multi-task source without per-task heads")
