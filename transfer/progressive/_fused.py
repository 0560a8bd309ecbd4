"""Opt-in (``fast=True``): several progressive towers over the same input as a few wide layers (inference only).

A PPO/A2C policy has a pi and a vf tower; at rollout time each env step pushes one observation through
both, and at that batch size the cost is one fixed overhead per op, not arithmetic. :func:`fuse_plans`
turns the towers' compiled plans (:meth:`simtransfer.transfer.progressive.ProgressiveTower.plan`) into *stages*:
every unit of every tower (a column's layer, a lateral adapter's reduction, a head adapter) sits at its depth
in the graph, and all units of one depth with the same nonlinearity become one linear map over everything
computed before, followed by one activation. Index maps, α and the adapters' projections U are folded into
those maps. One source column under [64, 64] pi and vf columns is then 3 stages (about 9 ops) instead of
about 20. Same function as the separate towers; float rounding may differ in the last bits (≤1e-6, tested),
which is why a policy uses it only when built with ``fast=True``.

>>> import torch
>>> from simtransfer.transfer.progressive import ProgressiveTower
>>> towers = [ProgressiveTower(4, [{"arch": [8, 8]}, {"arch": [w, w]}]) for w in (6, 5)]
>>> fused = fuse_plans([t.plan() for t in towers], 4)
>>> [t.shape for t in fused_latents(fused, torch.zeros(2, 4))]
[torch.Size([2, 12]), torch.Size([2, 10])]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

Key = tuple  # ("h", tower, column, layer) | ("r", tower, column, layer) | ("rh", tower) | ("x",)


@dataclass
class _Unit:
    key: Key
    width: int
    act: Callable[[torch.Tensor], torch.Tensor]
    bias: torch.Tensor
    inputs: list[tuple[Key, torch.Tensor, torch.Tensor | None]] = field(default_factory=list)  # (src, W, index)
    depth: int = 0


def _adapter_inputs(adapter: tuple, tower: int, columns: list[int], prev: int, widths: dict) -> list[tuple]:
    """The reduction V [α_1 h_1; …] as one input per source: V's block times α_q."""
    alpha, reduce_w, _, _, _ = adapter
    inputs, col = [], 0
    for q, s in enumerate(columns):
        block = reduce_w[:, col : col + widths[tower, s, prev]]
        inputs.append((("h", tower, s, prev), block * alpha[q], None))
        col += block.shape[1]
    return inputs


def _tower_units(t: int, plan: tuple) -> tuple[list[_Unit], list[Key]] | None:
    """Tower ``t``'s units, each after its inputs, and the keys of its latent (None: a column has no layer)."""
    frozen, last = plan
    widths: dict[tuple[int, int, int], int] = {}  # (tower, column, layer) -> width
    units: list[_Unit] = []
    for j, index, (act, steps, _), lateral_from in [*frozen, last]:
        if not steps:
            return None
        for i, (weight, bias, lateral) in enumerate(steps):
            widths[t, j, i] = weight.shape[0]
            src = ("x",) if i == 0 else ("h", t, j, i - 1)
            unit = _Unit(("h", t, j, i), weight.shape[0], act, bias, [(src, weight, index if i == 0 else None)])
            if lateral is not None:
                adapter, srcs, prev = lateral
                r = _Unit(("r", t, j, i), adapter[1].shape[0], adapter[4], adapter[2],
                          _adapter_inputs(adapter, t, [lateral_from[q] for q in srcs], prev, widths))
                units.append(r)
                unit.inputs.append((r.key, adapter[3], None))
            units.append(unit)
    j, _, (act, steps, head), lateral_from = last
    outputs: list[Key] = [("h", t, j, len(steps) - 1)]
    if head is not None:
        adapter, srcs, prev = head
        units.append(_Unit(("rh", t), adapter[1].shape[0], adapter[4], adapter[2],
                           _adapter_inputs(adapter, t, [lateral_from[q] for q in srcs], prev, widths)))
        outputs.append(("rh", t))
    return units, outputs


@torch.no_grad()
def fuse_plans(plans: list[tuple], n_in: int) -> tuple | None:
    """Towers over the same ``n_in``-wide input (a PPO policy's pi and vf towers) as stages of wide layers.

    Returns ``(stages, out_index, splits)`` for :func:`fused_latents`, or None when a column has no hidden
    layer. The result is a snapshot (new tensors): rebuild it after the weights change.
    """
    units: dict[Key, _Unit] = {}
    outputs: list[list[Key]] = []
    for t, plan in enumerate(plans):
        built = _tower_units(t, plan)
        if built is None:
            return None
        for unit in built[0]:
            units[unit.key] = unit
        outputs.append(built[1])
    for unit in units.values():  # units are listed after their inputs
        unit.depth = 1 + max(0 if src == ("x",) else units[src].depth for src, _, _ in unit.inputs)
    rank = {key: n for n, key in enumerate(k for out in outputs for k in out)}
    order = sorted(units.values(), key=lambda u: (u.depth, rank.get(u.key, len(rank))))
    offsets: dict[Key, int] = {("x",): 0}
    width = n_in
    stages = []
    for depth in range(1, order[-1].depth + 1):
        groups: list[list[_Unit]] = []
        for unit in (u for u in order if u.depth == depth):
            if groups and groups[-1][0].act is unit.act:
                groups[-1].append(unit)
            else:
                groups.append([unit])
        stage = []
        for group in groups:
            weight = group[0].bias.new_zeros(sum(u.width for u in group), width)
            row = 0
            for unit in group:
                for src, w, index in unit.inputs:
                    _place(weight[row : row + unit.width], offsets[src], w, index, n_in)
                row += unit.width
            stage.append((weight, torch.cat([u.bias for u in group]), group[0].act))
        for group in groups:
            for unit in group:
                offsets[unit.key] = width
                width += unit.width
        stages.append(stage)
    out_cols = [c for out in outputs for k in out for c in range(offsets[k], offsets[k] + units[k].width)]
    splits = [sum(units[k].width for k in out) for out in outputs]
    contiguous = out_cols == list(range(width - len(out_cols), width)) and len(stages[-1]) == 1
    out_index = None if contiguous else torch.tensor(out_cols, dtype=torch.long)
    return stages, out_index, splits


def _place(rows: torch.Tensor, offset: int, weight: torch.Tensor, index: torch.Tensor | None, n_in: int) -> None:
    """Add ``weight`` (its input columns at ``offset``, or spread over x by an index map) into ``rows``."""
    if index is None:
        rows[:, offset : offset + weight.shape[1]] += weight
        return
    for k, i in enumerate(index.tolist()):
        if i < n_in:  # index n_in reads the zero pad: drop it
            rows[:, i] += weight[:, k]


def fused_latents(fused: tuple, x: torch.Tensor) -> list[torch.Tensor]:
    """Each fused tower's latent (what its own forward returns), from :func:`fuse_plans`' result."""
    stages, out_index, splits = fused
    state = [x]
    for stage in stages:
        inp = state[0] if len(state) == 1 else torch.cat(state, dim=-1)
        state.extend(act(F.linear(inp, weight, bias)) for weight, bias, act in stage)
    out = state[-1] if out_index is None else torch.cat(state, dim=-1).index_select(-1, out_index)
    return list(out.split(splits, dim=-1))
