"""The feature/latent extractors of progressive actor-critic policies: a pi and a vf progressive tower over vector
features (:class:`ProgressiveMlpExtractor`), or progressive CNN columns over images (:class:`ProgressiveCnnExtractor`).

>>> import torch
>>> from simtransfer.transfer.progressive import ProgressiveMlpExtractor
>>> ex = ProgressiveMlpExtractor(3, [{"pi": [8], "vf": [8], "obs_dim": 3}], [4], "tanh")
>>> [t.shape for t in ex(torch.zeros(2, 3))]   # new column (4) + head lateral (4), for pi and vf
[torch.Size([2, 8]), torch.Size([2, 8])]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from simtransfer.transfer.progressive._cache import tensor_versions
from simtransfer.transfer.progressive._cnn import NATURE_CNN, ProgressiveCnn
from simtransfer.transfer.progressive._fused import fuse_plans, fused_latents
from simtransfer.transfer.progressive._tower import ProgressiveTower


def _lateral_from(columns: list[dict[str, Any]], k: int) -> list[int]:
    return [int(j) for j in columns[k].get("lateral_from", [])]


def _tower_columns(columns: list[dict[str, Any]], key: str, new_arch: list[int], new_act: str, n_obs: int | None = None):
    """Tower column dicts for the ``key`` (pi/vf/qf) networks: sources, then the new column.

    Critic towers (``n_obs`` given) read ``concat(obs, action)``; their map joins the obs and action maps.
    """
    out = []
    for k, col in enumerate(columns):
        obs_dim = int(col["obs_dim"])
        index_map, in_dim = col.get("obs_index_map"), obs_dim
        if n_obs is not None:
            obs_map = list(range(obs_dim)) if index_map is None else list(index_map)
            act_map = col.get("action_index_map")
            act_map = list(range(int(col["action_dim"]))) if act_map is None else list(act_map)
            index_map = obs_map + [-1 if a < 0 else n_obs + int(a) for a in act_map]
            in_dim = obs_dim + int(col["action_dim"])
        out.append(
            {
                "arch": col[key],
                "activation_fn": col.get("activation_fn", "tanh"),
                "index_map": index_map,
                "in_dim": in_dim,
                "lateral_from": _lateral_from(columns, k),
                **{a: col[a] for a in ("adapter_width", "head_lateral") if a in col},
            }
        )
    out.append({"arch": list(new_arch), "activation_fn": new_act, "lateral_from": list(range(len(columns)))})
    return out


class ProgressiveMlpExtractor(nn.Module):
    """Drop-in for SB3's ``MlpExtractor``: a progressive policy tower and a progressive value tower.

    ``fused_rollout=True`` (a policy's ``fast`` option) runs both towers as a few wide layers when no gradient
    is recorded (rollouts; :func:`fuse_plans`): the same function up to float rounding (≤1e-6).
    """

    def __init__(self, features_dim: int, columns: list[dict[str, Any]], net_arch: Any, activation: str,
                 fused_rollout: bool = False, **adapt):
        super().__init__()
        pi = net_arch.get("pi", []) if isinstance(net_arch, dict) else list(net_arch)
        vf = net_arch.get("vf", []) if isinstance(net_arch, dict) else list(net_arch)
        self.policy_tower = ProgressiveTower(features_dim, _tower_columns(columns, "pi", pi, activation), **adapt)
        self.value_tower = ProgressiveTower(features_dim, _tower_columns(columns, "vf", vf, activation), **adapt)
        self.latent_dim_pi = self.policy_tower.latent_dim
        self.latent_dim_vf = self.value_tower.latent_dim
        self.fused_rollout = bool(fused_rollout)
        self._rows: list | None = None  # the frozen columns' activations of the current minibatch (see frozen_rows)
        self._fused: tuple | None = None

    @contextlib.contextmanager
    def frozen_rows(self, rows: list) -> Iterator[None]:
        """Inside the block, ``forward`` takes the frozen columns' activations from ``rows`` (one entry per tower,
        as :meth:`FrozenRowCache.rows` returns them) instead of computing them."""
        self._rows = rows
        try:
            yield
        finally:
            self._rows = None

    # the towers' forward is called directly (one module call per env step / minibatch, not three)
    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self._rows
        if rows is not None:
            return self.policy_tower.forward(features, rows[0]), self.value_tower.forward(features, rows[1])
        if self.fused_rollout and not torch.is_grad_enabled():  # rollouts: both towers as a few wide stages
            fused = self._fused_plan()
            if fused is not None:
                latent_pi, latent_vf = fused_latents(fused, features)
                return latent_pi, latent_vf
        return self.policy_tower.forward(features), self.value_tower.forward(features)

    def _fused_plan(self) -> tuple | None:
        """:func:`fuse_plans` of the two towers, rebuilt when any of their tensors changed since (optimizer
        steps, loads and in-place edits bump a tensor's version; ``.train()``/``.eval()`` also rebuild)."""
        towers = (self.policy_tower, self.value_tower)
        plans = [t.plan() for t in towers]
        cache = self._fused
        if cache is not None and all(a is b for a, b in zip(cache[1], plans)):
            if tensor_versions(cache[2]) == cache[3]:
                return cache[0]
        with torch.no_grad():
            fused = fuse_plans(plans, self.policy_tower.maps[0].n_in)
        tensors = [t for tower in towers for t in [*tower.parameters(), *tower.buffers()]]
        self._fused = (fused, plans, tensors, tensor_versions(tensors))
        return fused

    def train(self, mode: bool = True):
        self._fused = None
        return super().train(mode)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_tower.forward(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_tower.forward(features)


class ProgressiveCnnExtractor(BaseFeaturesExtractor):
    """Features extractor of CNN columns; outputs the new column's features (+ head lateral)."""

    def __init__(
        self,
        observation_space: spaces.Box,
        columns: list[dict[str, Any]],
        conv_arch: list[list[int]] | None = None,
        features_dim: int = 512,
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
    ) -> None:
        new = {"conv_arch": conv_arch or NATURE_CNN, "features_dim": features_dim, "lateral_from": list(range(len(columns)))}
        cols = [*[dict(c) for c in columns], new]
        net = ProgressiveCnn(observation_space.shape, cols, alpha_init, adapter_width, head_laterals)
        super().__init__(observation_space, net.latent_dim)
        self.net = net

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)
