"""Compute a progressive policy's frozen columns once per rollout, not once per minibatch and epoch.

A frozen column's activations depend only on the observation, and PPO/A2C go over the same rollout
``n_epochs`` times. :class:`IndexedRolloutBuffer` is SB3's ``RolloutBuffer`` that remembers which rows its
latest minibatch came from; given those rows, :class:`FrozenRowCache` computes the frozen columns of every
row of the rollout in one batch and hands each minibatch its rows. Nothing else changes: the trainable
column, its lateral adapters and their gradients are computed as before. The result is the same as
recomputing, up to float rounding of one large batch vs many small ones.

:func:`simtransfer.transfer.progressive_spec.load_source_columns` switches an on-policy model to the indexed buffer (and
a saved model keeps it), so ``simtransfer transfer --method progressive`` uses it without a setting.

>>> import gymnasium as gym
>>> from stable_baselines3 import PPO
>>> model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64)
>>> use_indexed_rollout_buffer(model)
True
>>> type(model.rollout_buffer).__name__
'IndexedRolloutBuffer'
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from torch import nn

_VERSION = operator.attrgetter("_version")  # bumped by every in-place change of a tensor
_LAST = threading.local()  # (observation tensor, weakref to its buffer, row indices) of the latest minibatch
_REGISTRATIONS = [0]  # parameters, buffers and submodules registered on any module in this process


def _registered(*_: Any) -> None:
    _REGISTRATIONS[0] += 1


nn.modules.module.register_module_parameter_registration_hook(_registered)
nn.modules.module.register_module_buffer_registration_hook(_registered)
nn.modules.module.register_module_module_registration_hook(_registered)


class CachedParameters(nn.Module):
    """``parameters()`` from a list kept until any module registers a parameter, buffer or submodule.

    PPO clips gradients with ``clip_grad_norm_(policy.parameters())`` every minibatch, which walks the whole
    module tree; a progressive policy has about 60 modules (columns, adapters, maps, heads) against a plain
    policy's 16. Deleting a parameter attribute (``del m.weight``) is not seen: call ``parameters_changed()``.
    """

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        if not recurse:
            return super().parameters(recurse)
        cached = self.__dict__.get("_parameter_list")
        if cached is None or cached[0] != _REGISTRATIONS[0]:
            cached = self.__dict__["_parameter_list"] = (_REGISTRATIONS[0], tuple(super().parameters()))
        return iter(cached[1])

    def parameters_changed(self) -> None:
        self.__dict__.pop("_parameter_list", None)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:  # .to()/.float(): parameters may be new tensors
        self.parameters_changed()
        return super()._apply(fn, recurse)


class IndexedRolloutBuffer(RolloutBuffer):
    """``RolloutBuffer`` whose minibatches can be traced back to their rows (see :func:`served_rows`)."""

    generation = 0  # bumped on every reset: a new rollout

    def reset(self) -> None:
        super().reset()
        self.generation += 1

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> Any:
        samples = super()._get_samples(batch_inds, env)
        _LAST.served = (samples.observations, weakref.ref(self), batch_inds)
        return samples


def served_rows(obs: torch.Tensor) -> tuple[IndexedRolloutBuffer, np.ndarray] | None:
    """(buffer, row indices) when ``obs`` is the very observation tensor of the latest minibatch an
    :class:`IndexedRolloutBuffer` served in this thread; None otherwise."""
    last = getattr(_LAST, "served", None)
    if last is None or last[0] is not obs:
        return None
    buffer = last[1]()
    return None if buffer is None else (buffer, last[2])


def use_indexed_rollout_buffer(model: Any) -> bool:
    """Give an on-policy SB3 model an :class:`IndexedRolloutBuffer` (saved with the model); True if it has one.

    Only a plain ``RolloutBuffer`` is replaced (a Dict-observation or custom buffer is kept as it is).
    """
    buffer = getattr(model, "rollout_buffer", None)
    if isinstance(buffer, IndexedRolloutBuffer):
        return True
    if type(buffer) is not RolloutBuffer:
        return False
    model.rollout_buffer_class = IndexedRolloutBuffer
    model.rollout_buffer = IndexedRolloutBuffer(
        buffer.buffer_size, buffer.observation_space, buffer.action_space, device=buffer.device,
        gae_lambda=buffer.gae_lambda, gamma=buffer.gamma, n_envs=buffer.n_envs,
        **(getattr(model, "rollout_buffer_kwargs", None) or {}),
    )
    return True


class FrozenRowCache:
    """The frozen columns' activations of every row of one rollout, for towers over the same features.

    ``rows(features_of_all, buffer, inds)`` returns per tower the ``frozen`` argument of
    :meth:`simtransfer.transfer.progressive.ProgressiveTower.forward` for the minibatch rows ``inds``. It recomputes
    when the rollout (buffer, generation) or any frozen tensor (by version) changed.
    """

    def __init__(self, towers: list[Any]) -> None:
        self.towers = towers
        self.buffer: weakref.ref | None = None
        self.key: tuple | None = None
        self.wide: torch.Tensor | None = None
        self.widths: list[int] = []
        self.layout: list[list[tuple[int, int]]] = []  # per tower, per column: (first layer's slot, n layers)

    def _versions(self) -> list[int]:
        """Versions of the tensors in the towers' frozen plans (a load/.to() makes new plans: re-listed)."""
        plans = [tower._fast or tower._compile() for tower in self.towers]
        listed = self.__dict__.get("_listed")
        if listed is None or any(a is not b for a, b in zip(listed[0], plans)):
            listed = self.__dict__["_listed"] = (plans, [t for plan in plans for t in _tensors(plan[0])])
        return list(map(_VERSION, listed[1]))

    def rows(self, features: Any, buffer: IndexedRolloutBuffer, inds: np.ndarray) -> list[list[list[torch.Tensor]]]:
        """``features``: a callable giving the features of all the buffer's rows (called only on a miss)."""
        key = (buffer.generation, self._versions())  # (filling runs under no_grad: versions stay)
        if self.buffer is None or self.buffer() is not buffer or self.key != key:
            self._fill(features())
            self.buffer, self.key = weakref.ref(buffer), key
        assert self.wide is not None
        picked = self.wide.index_select(0, torch.as_tensor(inds, device=self.wide.device))
        parts = picked.split(self.widths, dim=-1)
        out = []
        for layout in self.layout:
            out.append([list(parts[slot : slot + n]) for slot, n in layout])
        return out

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
