"""Progressive neural networks (Rusu et al. 2016): frozen source columns plus one trainable column.

A *tower* holds K+1 columns of layers. Column k's layer i+1 receives its own layer i and, through one
non-linear lateral adapter, layer i of every earlier column it lists in ``lateral_from``::

    h_{i+1}^k = f( W_{i+1}^k h_i^k + b + U_{i+1}^k  σ( V_{i+1}^k [α_1 h_i^1; …; α_K h_i^K] + c ) )

α are learned scalars (initialised small), V reduces the concatenated width (a 1x1 convolution for conv
layers), σ is the column's nonlinearity and U projects into layer i+1 (a conv with layer i+1's kernel and
stride for conv layers). The head of the last column sees ``[h_L^k; σ(V [α h_L^{<k}] + c)]``, so the
linear action/value head applies its own U. Frozen columns keep their tensors as *buffers*
(``requires_grad=False``): no optimizer, no Polyak update and no ``init_weights`` call can change them.

The SB3 policies built on these towers are :class:`ProgressiveActorCriticPolicy`, :class:`ProgressiveSACPolicy`
and :class:`ProgressiveTD3Policy` (all exported by :mod:`simtransfer.transfer.progressive`).

>>> import torch
>>> from simtransfer.transfer.progressive import ProgressiveTower
>>> tower = ProgressiveTower(4, [{"arch": [8, 8]}, {"arch": [6, 6]}])
>>> tower(torch.zeros(3, 4)).shape   # last hidden (6) + head lateral (6)
torch.Size([3, 12])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.progressive._columns import (
    IndexMap,
    MlpColumn,
    _check_columns,
    _column_acts,
    _column_latent,
    check_index_map,
    freeze_to_buffers,
)


class ProgressiveTower(nn.Module):
    """MLP columns over one input vector; all but the last column are frozen.

    ``columns[k]``: ``arch`` (hidden widths), ``activation_fn`` (name, default tanh), ``index_map`` (target
    input index per column input or -1, None = identity) and ``lateral_from`` (earlier column ids; default:
    all earlier columns for the last column, none for the others).
    """

    def __init__(
        self,
        in_dim: int,
        columns: Sequence[dict[str, Any]],
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
    ) -> None:
        super().__init__()
        _check_columns(columns)
        n = len(columns)
        self.lateral_from = [
            [int(j) for j in col.get("lateral_from", list(range(k)) if k == n - 1 else [])]
            for k, col in enumerate(columns)
        ]
        self.maps = nn.ModuleList()
        self.columns = nn.ModuleList()
        for k, col in enumerate(columns):
            m = check_index_map(col.get("index_map"), in_dim, col.get("in_dim"), f"column {k}")
            self.maps.append(IndexMap(in_dim, m))
            column = MlpColumn(
                self.maps[k].n_out,
                col["arch"],
                col.get("activation_fn", "tanh"),
                [columns[j]["arch"] for j in self.lateral_from[k]],
                alpha_init,
                col.get("adapter_width", adapter_width),
                bool(col.get("head_lateral", head_laterals)),
            )
            self.columns.append(column if k == n - 1 else freeze_to_buffers(column))
        self.latent_dim = self.columns[-1].out_dim
        self._plan()

    def _plan(self) -> None:
        """Per column: the columns to compute, in order (checked once: laterals must be closed)."""
        self.last = len(self.columns) - 1
        self.needed = []
        for k in range(len(self.columns)):
            needed = sorted({k, *self.lateral_from[k]})
            for j in needed:
                missing = [s for s in self.lateral_from[j] if s not in needed]
                if missing:
                    raise SimtransferError(f"column {j} needs columns {missing}, which are not laterals of column {k}")
            self.needed.append(needed)
        self._fast: tuple | None = None

    def _apply(self, fn, recurse: bool = True):  # .to()/.float()/...: buffers may be new tensors
        self._fast = None
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # load_state_dict(assign=True) swaps tensors
        self._fast = None
        super()._load_from_state_dict(*args, **kwargs)

    def _compile(self) -> tuple:
        """forward()'s plan: frozen (id, map index or None, spec, sources) in order, then the new column's."""
        def entry(j: int) -> tuple:
            index = None if self.maps[j].identity else self.maps[j].index
            return j, index, self.columns[j].spec(), self.lateral_from[j]

        self._fast = ([entry(j) for j in self.needed[self.last] if j != self.last], entry(self.last))
        return self._fast

    def plan(self) -> tuple:
        """The compiled plan :meth:`forward` runs (built on first use; rebuilt after ``.to()``/loads)."""
        return self._fast or self._compile()

    def column_latent(self, k: int, inputs: dict[int, torch.Tensor]) -> torch.Tensor:
        """Latent of column ``k`` given the (already mapped) input of ``k`` and of its lateral sources."""
        acts: dict[int, list[torch.Tensor]] = {}
        for j in self.needed[k]:
            lateral = [acts[s] for s in self.lateral_from[j]]
            if j != self.last and not inputs[j].requires_grad:
                with torch.no_grad():  # frozen column on plain observations: no graph needed
                    acts[j] = self.columns[j](inputs[j], lateral)
            else:  # (a SAC/TD3 critic's input carries the actor's gradient through the frozen column)
                acts[j] = self.columns[j](inputs[j], lateral)
        return self.columns[k].latent(inputs[k], acts[k], [acts[s] for s in self.lateral_from[k]])

    @staticmethod
    def _frozen_acts(frozen: list[tuple], x: torch.Tensor, n: int) -> list[list[torch.Tensor]]:
        acts: list[list[torch.Tensor]] = [[]] * n
        for j, index, spec, lateral in frozen:
            h = x if index is None else F.pad(x, (0, 1)).index_select(-1, index)
            acts[j] = _column_acts(spec, h, [acts[s] for s in lateral])
        return acts

    def frozen_acts(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Every layer's activations of the frozen columns the last column reads (entry j: column j; [] for
        the last column and unused ones), without a graph: what :meth:`forward` may be given as ``frozen``."""
        frozen, _ = self.plan()
        with torch.no_grad():
            return self._frozen_acts(frozen, x, len(self.lateral_from))

    def forward(self, x: torch.Tensor, frozen: list[list[torch.Tensor]] | None = None) -> torch.Tensor:
        """The last column's latent: ``column_latent(last, mapped x)`` through the precompiled plan.

        ``frozen``: the frozen columns' activations for ``x`` computed before (:meth:`frozen_acts`), e.g. once
        per rollout for all of PPO's epochs (``fast=True``, see :class:`FrozenRowCache`)."""
        plan_frozen, (k, index, spec, lateral) = self.plan()
        n = len(self.lateral_from)
        if frozen is not None:
            acts = frozen
        elif not plan_frozen:
            acts = []
        elif x.requires_grad or not torch.is_grad_enabled():
            acts = self._frozen_acts(plan_frozen, x, n)  # (a SAC/TD3 critic's input carries the actor's gradient)
        else:
            with torch.no_grad():  # frozen columns on plain observations: no graph needed
                acts = self._frozen_acts(plan_frozen, x, n)
        own = x if index is None else F.pad(x, (0, 1)).index_select(-1, index)
        lateral_acts = [acts[s] for s in lateral]
        return _column_latent(spec, own, _column_acts(spec, own, lateral_acts), lateral_acts)
