"""Progressive networks with convolutional columns (pixel observations): the conv counterpart of
:class:`~simtransfer.transfer.progressive.ProgressiveTower`, with NatureCNN-shaped columns and 1x1-conv lateral
adapters (used by :class:`~simtransfer.transfer.progressive.ProgressiveCnnExtractor`).

>>> import torch
>>> from simtransfer.transfer.progressive import ProgressiveCnn
>>> cnn = ProgressiveCnn((1, 36, 36), [{"features_dim": 8}, {"features_dim": 6}])
>>> cnn(torch.zeros(2, 1, 36, 36)).shape   # new column's features (6) + head lateral (6)
torch.Size([2, 12])
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
    LateralAdapter,
    _check_columns,
    _reduce_width,
    freeze_to_buffers,
    make_activation,
)
from simtransfer.transfer.progressive._tower import ProgressiveTower


class ConvLateralAdapter(nn.Module):
    """Conv version: α-scaled sources, 1x1 conv reduction, σ, then a conv (or flatten + linear) into the next layer."""

    def __init__(
        self,
        in_channels: Sequence[int],
        reduce_to: int,
        out: tuple[int, int, int] | tuple[int, int],
        alpha_init: float,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((len(in_channels),), float(alpha_init)))
        self.reduce = nn.Conv2d(sum(in_channels), reduce_to, kernel_size=1)
        self.act = make_activation(activation)
        if len(out) == 3:  # (channels, kernel, stride) of the receiving conv layer
            self.project: nn.Module = nn.Conv2d(reduce_to, out[0], kernel_size=out[1], stride=out[2], bias=False)
        else:  # (flattened reduced size, features) of the receiving linear layer
            self.project = nn.Sequential(nn.Flatten(), nn.Linear(out[0], out[1], bias=False))

    def forward(self, hs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([self.alpha[j] * h for j, h in enumerate(hs)], dim=1)
        return self.project(self.act(self.reduce(x)))


NATURE_CNN = [[32, 8, 4], [64, 4, 2], [64, 3, 1]]


class CnnColumn(nn.Module):
    """NatureCNN-shaped column (convs + linear features), laterals from the conv/linear layers of sources."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        conv_arch: Sequence[Sequence[int]],
        features_dim: int,
        lateral_cols: Sequence[dict[str, Any]],
        alpha_init: float,
        adapter_width: int | None,
        head_lateral: bool,
    ) -> None:
        super().__init__()
        self.conv_arch = [[int(v) for v in c] for c in conv_arch]
        for j, src in enumerate(lateral_cols):
            src_kernels = [c[1:] for c in src["conv_arch"]]
            if src_kernels[: len(self.conv_arch)] != [c[1:] for c in self.conv_arch][: len(src_kernels)]:
                raise SimtransferError(f"CNN lateral source {j}: kernels/strides differ from the new column's")
        chans = [int(obs_shape[0])] + [c[0] for c in self.conv_arch]
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], c, kernel_size=k, stride=s) for i, (c, k, s) in enumerate(self.conv_arch)
        )
        with torch.no_grad():
            shapes = []
            h = torch.zeros(1, *obs_shape)
            for conv in self.convs:
                h = conv(h)
                shapes.append(h.shape[1:])
        self.linear = nn.Linear(int(h[0].numel()), features_dim)
        self.laterals = nn.ModuleDict()
        self.lateral_sources: dict[str, list[int]] = {}
        n = len(self.conv_arch)
        for i in range(1, n + 1):  # conv i (i < n) or the linear layer (i == n) takes conv i-1
            srcs = [j for j, src in enumerate(lateral_cols) if len(src["conv_arch"]) >= i]
            if not srcs:
                continue
            in_ch = [lateral_cols[j]["conv_arch"][i - 1][0] for j in srcs]
            r = _reduce_width(adapter_width, self.conv_arch[i - 1][0])
            if i < n:
                out: tuple = tuple(self.conv_arch[i])
            else:
                out = (r * shapes[-1][1] * shapes[-1][2], features_dim)
            self.laterals[str(i)] = ConvLateralAdapter(in_ch, r, out, alpha_init)
            self.lateral_sources[str(i)] = srcs
        self.head_sources = list(range(len(lateral_cols)))
        self.head = None
        if head_lateral and lateral_cols:
            in_dims = [int(src["features_dim"]) for src in lateral_cols]
            r = _reduce_width(adapter_width, features_dim)
            self.head = LateralAdapter(in_dims, r, None, "relu", alpha_init)
        self.out_dim = features_dim + (self.head.reduce.out_features if self.head else 0)

    def forward(self, x: torch.Tensor, lateral_acts: Sequence[list[torch.Tensor]]) -> list[torch.Tensor]:
        acts: list[torch.Tensor] = []
        h = x
        for i, layer in enumerate([*self.convs, self.linear]):
            if i == len(self.convs):
                h = h.flatten(1)
            z = layer(h)
            if str(i) in self.laterals:
                z = z + self.laterals[str(i)]([lateral_acts[j][i - 1] for j in self.lateral_sources[str(i)]])
            h = F.relu(z)
            acts.append(h)
        return acts

    def latent(self, x: torch.Tensor, acts: list[torch.Tensor], lateral_acts: Sequence[list[torch.Tensor]]):
        if self.head is None:
            return acts[-1]
        return torch.cat([acts[-1], self.head([lateral_acts[j][-1] for j in self.head_sources])], dim=-1)


class ProgressiveCnn(ProgressiveTower):
    """CNN columns over one image input (channels first, already scaled); same lateral rules as the tower.

    ``columns[k]``: ``conv_arch`` (``[[channels, kernel, stride], ...]``, default NatureCNN),
    ``features_dim`` (default 512) and ``lateral_from``.
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        columns: Sequence[dict[str, Any]],
        alpha_init: float = 0.01,
        adapter_width: int | None = None,
        head_laterals: bool = True,
    ) -> None:
        nn.Module.__init__(self)
        _check_columns(columns)
        n = len(columns)
        cols = [{"conv_arch": c.get("conv_arch", NATURE_CNN), "features_dim": c.get("features_dim", 512)} for c in columns]
        self.lateral_from = [
            [int(j) for j in col.get("lateral_from", list(range(k)) if k == n - 1 else [])]
            for k, col in enumerate(columns)
        ]
        self.maps = nn.ModuleList(IndexMap(1, None) for _ in columns)  # images: identity
        self.columns = nn.ModuleList()
        for k, col in enumerate(cols):
            column = CnnColumn(
                obs_shape,
                col["conv_arch"],
                int(col["features_dim"]),
                [cols[j] for j in self.lateral_from[k]],
                alpha_init,
                adapter_width,
                head_laterals,
            )
            self.columns.append(column if k == n - 1 else freeze_to_buffers(column))
        self.latent_dim = self.columns[-1].out_dim
        self._plan()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.column_latent(self.last, dict.fromkeys(self.needed[self.last], x))

