"""Opt-in (``fast=True``): compute a progressive policy's frozen columns once per rollout, not per minibatch.

A frozen column's activations depend only on the observation, and PPO/A2C go over the same rollout
``n_epochs`` times. :class:`IndexedRolloutBuffer` is SB3's ``RolloutBuffer`` that remembers, on itself, which
rows its latest minibatch came from; a policy watching that buffer (:func:`use_indexed_rollout_buffer`)
gives :class:`FrozenRowCache` those rows, and the cache computes the frozen columns of every row of the
rollout in one batch and hands each minibatch its rows. The trainable column, its lateral adapters and their
gradients are computed as before; the result equals recomputing up to float rounding (one large batch vs
many small ones).

Nothing here is global: the rows live on the buffer, the cache on the policy, and only a model handed to
:func:`use_indexed_rollout_buffer` (the ``progressive`` method does it when its ``fast`` option is on) has one.

>>> import gymnasium as gym
>>> from stable_baselines3 import PPO
>>> model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64)
>>> use_indexed_rollout_buffer(model)
True
>>> type(model.rollout_buffer).__name__
'IndexedRolloutBuffer'
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer


def tensor_versions(tensors: Iterable[torch.Tensor]) -> list[int]:
    """Each tensor's in-place change counter (bumped by optimizer steps, loads, ``add_``, ...).

    ``Tensor._version`` is PyTorch's own counter (checked against torch 2.3-2.13); it is the one private torch
    attribute this package reads, and only here (tested in ``tests/transfer/test_progressive_fast.py``).
    """
    return [t._version for t in tensors]


def _served_minibatch(buffer: RolloutBuffer, batch_inds: np.ndarray, samples: Any) -> Any:
    """Remember on ``buffer`` the rows behind the minibatch ``samples`` it is about to hand out.

    SB3 has no public seam that exposes a minibatch's rows: ``RolloutBuffer.get`` draws a permutation and yields
    ``self._get_samples(rows)``; overriding that (private) method is the only place the rows are visible.
    Checked against stable-baselines3 2.4-2.9.2; ``test_sb3_rollout_buffer_serves_minibatches_via_get_samples``
    fails if SB3 changes it.
    """
    buffer.served = (samples.observations, batch_inds)
    return samples


class IndexedRolloutBuffer(RolloutBuffer):
    """``RolloutBuffer`` whose latest minibatch can be traced back to its rows (see :meth:`rows_of`)."""

    generation = 0  # bumped on every reset: a new rollout
    served: tuple[torch.Tensor, np.ndarray] | None = None  # (observations, rows) of the latest minibatch

    def reset(self) -> None:
        super().reset()
        self.generation += 1
        self.served = None

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> Any:
        return _served_minibatch(self, batch_inds, super()._get_samples(batch_inds, env))

    def rows_of(self, obs: torch.Tensor) -> np.ndarray | None:
        """The row indices when ``obs`` is the very observation tensor of this buffer's latest minibatch."""
        served = self.served
        return served[1] if served is not None and served[0] is obs else None


def use_indexed_rollout_buffer(model: Any) -> bool:
    """Give an on-policy SB3 model an :class:`IndexedRolloutBuffer`; True if it has one.

    Only a plain ``RolloutBuffer`` is replaced (a Dict-observation or custom buffer is kept as it is). A policy
    with a ``watch_rollout_buffer`` method (the progressive actor-critic) is told about the buffer, so that
    with ``fast=True`` it takes its frozen columns' activations from a per-rollout cache.
    """
    buffer = getattr(model, "rollout_buffer", None)
    if type(buffer) is RolloutBuffer:
        model.rollout_buffer_class = IndexedRolloutBuffer
        buffer = model.rollout_buffer = IndexedRolloutBuffer(
            buffer.buffer_size, buffer.observation_space, buffer.action_space, device=buffer.device,
            gae_lambda=buffer.gae_lambda, gamma=buffer.gamma, n_envs=buffer.n_envs,
            **(getattr(model, "rollout_buffer_kwargs", None) or {}),
        )
    if not isinstance(buffer, IndexedRolloutBuffer):
        return False
    watch = getattr(getattr(model, "policy", None), "watch_rollout_buffer", None)
    if watch is not None:
        watch(buffer)
    return True


class FrozenRowCache:
    """The frozen columns' activations of every row of one rollout, for towers over the same features.

    ``rows(features_of_all, buffer, inds)`` returns per tower the ``frozen`` argument of
    :meth:`simtransfer.transfer.progressive.ProgressiveTower.forward` for the minibatch rows ``inds``. It
    recomputes when the rollout (buffer, generation) or any frozen tensor (by version) changed.
    """

    def __init__(self, towers: list[Any]) -> None:
        self.towers = towers
        self.buffer: weakref.ref | None = None
        self.key: tuple | None = None
        self.wide: torch.Tensor | None = None
        self.widths: list[int] = []
        self.layout: list[list[tuple[int, int]]] = []  # per tower, per column: (first layer's slot, n layers)
        self._listed: tuple | None = None

    def _versions(self) -> list[int]:
        """Versions of the tensors in the towers' frozen plans (a load/.to() makes new plans: re-listed)."""
        plans = [tower.plan() for tower in self.towers]
        listed = self._listed
        if listed is None or any(a is not b for a, b in zip(listed[0], plans)):
            listed = self._listed = (plans, [t for plan in plans for t in _tensors(plan[0])])
        return tensor_versions(listed[1])

    def rows(self, features: Any, buffer: IndexedRolloutBuffer, inds: np.ndarray) -> list[list[list[torch.Tensor]]]:
        """``features``: a callable giving the features of all the buffer's rows (called only on a miss)."""
        key = (buffer.generation, self._versions())  # (filling runs under no_grad: versions stay)
        if self.buffer is None or self.buffer() is not buffer or self.key != key:
            self._fill(features())
            self.buffer, self.key = weakref.ref(buffer), key
        assert self.wide is not None
        picked = self.wide.index_select(0, torch.as_tensor(inds, device=self.wide.device))
        parts = picked.split(self.widths, dim=-1)
        return [[list(parts[slot : slot + n]) for slot, n in layout] for layout in self.layout]

    def _fill(self, features: torch.Tensor) -> None:
        blocks, self.layout, self.widths = [], [], []
        for tower in self.towers:
            acts = tower.frozen_acts(features)
            layout = []
            for column in acts:
                layout.append((len(blocks), len(column)))
                blocks.extend(column)
            self.layout.append(layout)
        self.widths = [b.shape[-1] for b in blocks]
        self.wide = torch.cat(blocks, dim=-1) if blocks else features.new_zeros(features.shape[0], 0)


def _tensors(tree: Any) -> list[torch.Tensor]:
    """Every tensor in nested tuples/lists (a compiled plan)."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _tensors(item)]
    return []
