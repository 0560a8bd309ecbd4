"""Several progressive towers over the same input, run as one wider tower (inference only).

A PPO/A2C policy has a pi and a vf tower; at rollout time each env step pushes one observation through
both, and at that batch size the cost is one fixed overhead per op. :func:`fuse_plans` merges the towers'
compiled plans (see :meth:`transfer.progressive.ProgressiveTower._compile`): layer i of column j becomes
one linear map, rows stacked for the first layer (all towers read the column's input) and block-diagonal
after; lateral adapters likewise, with each α spread over the activations it scales. Same function as the
separate towers; float rounding may differ in the last bit.

>>> import torch
>>> from transfer.progressive import ProgressiveTower
>>> towers = [ProgressiveTower(4, [{"arch": [8, 8]}, {"arch": [w, w]}]) for w in (6, 5)]
>>> fused = fuse_plans([t._compile() for t in towers])
>>> [t.shape for t in fused_latents(fused, torch.zeros(2, 4))]
[torch.Size([2, 12]), torch.Size([2, 10])]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from transfer.progressive import AdapterSpec, _adapter, _column_acts  # the plan's own interpreter


def _place(weights: list[torch.Tensor], layouts: list[list[tuple]], fused_in: list[tuple]) -> torch.Tensor:
    """One weight for several towers' linear maps: tower t's output rows stacked in order; its input columns
    (``layouts[t]``: (key, width) in its own order) placed where ``fused_in`` ((owner, key, width); owner None
    for an input all towers share) holds them. Zeros elsewhere."""
    pos, off = {}, 0
    for owner, key, width in fused_in:
        pos[owner, key] = off
        off += width
    out = weights[0].new_zeros(sum(w.shape[0] for w in weights), off)
    row = 0
    for t, (w, layout) in enumerate(zip(weights, layouts)):
        col = 0
        for key, width in layout:
            p = pos[(t, key) if (t, key) in pos else (None, key)]
            out[row : row + w.shape[0], p : p + width] = w[:, col : col + width]
            col += width
        row += w.shape[0]
    return out


def _fuse_adapter(specs: list[AdapterSpec], srcs: list[int], prev: int, widths: list[dict]) -> AdapterSpec:
    """Adapters of several towers as one over their concatenated source activations (see fuse_plans)."""
    n = len(specs)
    alphas = [torch.cat([specs[t][0][q].expand(widths[t][s, prev]) for t in range(n)]) for q, s in enumerate(srcs)]
    fused_in = [(t, s, widths[t][s, prev]) for s in srcs for t in range(n)]
    layouts = [[(s, widths[t][s, prev]) for s in srcs] for t in range(n)]
    reduce_w = _place([sp[1] for sp in specs], layouts, fused_in)
    project = None
    if specs[0][3] is not None:
        r_in = [(t, "r", sp[1].shape[0]) for t, sp in enumerate(specs)]
        project = _place([sp[3] for sp in specs], [[("r", sp[1].shape[0])] for sp in specs], r_in)
    alpha = alphas[0] if len(srcs) == 1 else alphas
    return alpha, reduce_w, torch.cat([sp[2] for sp in specs]), project, specs[0][4]


def fuse_plans(plans: list[tuple]) -> tuple | None:
    """Several towers over the same input (a PPO policy's pi and vf towers) as one wider tower, for inference.

    Layer i of column j becomes one linear map: rows stacked (first layer: all read the column's input) or
    block-diagonal (later layers); adapters likewise, with α spread over the inputs it scales. Batch-1 rollout
    steps are overhead-bound, so one wide op beats one op per tower. Returns None when the towers differ in
    structure (columns, depths, laterals, maps, activations). The result is a snapshot: rebuild it after the
    weights change.
    """
    towers = [{j: (index, spec, lateral) for j, index, spec, lateral in [*frozen, last]} for frozen, last in plans]
    order = [entry[0] for entry in [*plans[0][0], plans[0][1]]]
    n = len(plans)
    for j in order:
        index, (act, steps, head), lateral = towers[0][j]
        for other in towers[1:]:
            o_index, (o_act, o_steps, o_head), o_lateral = other.get(j, (None, (None, [], None), None))
            if (o_act is not act or o_lateral != lateral or len(o_steps) != len(steps) or not steps
                    or (o_index is None) != (index is None) or (index is not None and not torch.equal(o_index, index))
                    or (o_head is None) != (head is None) or (head is not None and o_head[1:] != head[1:])
                    or [None if st[2] is None else st[2][1:] for st in o_steps]
                    != [None if st[2] is None else st[2][1:] for st in steps]):
                return None
    widths = [{(j, i): st[0].shape[0] for j, (_, spec, _) in tower.items() for i, st in enumerate(spec[1])} for tower in towers]
    columns = []
    for j in order:
        index, (act, steps, _), lateral = towers[0][j]
        fused_steps = []
        for i in range(len(steps)):
            ws = [tower[j][1][1][i][0] for tower in towers]
            if i == 0:
                weight = torch.cat(ws)
            else:
                weight = _place(ws, [[((j, i - 1), w.shape[1])] for w in ws], [(t, (j, i - 1), w.shape[1]) for t, w in enumerate(ws)])
            lat = steps[i][2]
            if lat is not None:
                adapter = _fuse_adapter([tower[j][1][1][i][2][0] for tower in towers], lat[1], lat[2], widths)
                lat = (adapter, lat[1], lat[2])
            fused_steps.append((weight, torch.cat([tower[j][1][1][i][1] for tower in towers]), lat))
        columns.append((j, index, (act, fused_steps, None), lateral))
    k = order[-1]
    head = towers[0][k][1][2]
    if head is not None:
        head = (_fuse_adapter([tower[k][1][2][0] for tower in towers], head[1], head[2], widths), head[1], head[2])
    splits = [widths[t][k, len(towers[0][k][1][1]) - 1] for t in range(n)]
    head_splits = [] if head is None else [tower[k][1][2][0][1].shape[0] for tower in towers]
    return columns, head, splits, head_splits


def fused_latents(fused: tuple, x: torch.Tensor) -> list[torch.Tensor]:
    """Each fused tower's latent (what its own forward returns), from :func:`fuse_plans`' result."""
    columns, head, splits, head_splits = fused
    acts: dict[int, list[torch.Tensor]] = {}
    for j, index, spec, lateral in columns:
        h = x if index is None else F.pad(x, (0, 1)).index_select(-1, index)
        acts[j] = _column_acts(spec, h, [acts[s] for s in lateral])
    last = acts[columns[-1][0]][-1].split(splits, dim=-1)
    if head is None:
        return list(last)
    adapter, srcs, prev = head
    reduced = _adapter(adapter, [acts[s][prev] for s in srcs]).split(head_splits, dim=-1)
    return [torch.cat([a, b], dim=-1) for a, b in zip(last, reduced)]
