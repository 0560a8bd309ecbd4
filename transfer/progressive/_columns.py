"""Building blocks of progressive columns: activations, frozen tensors, index maps, lateral adapters, MLP columns.

Every block has a module form (``forward``) and a *spec* form: a plain tuple of the very parameter/buffer
tensors, run by the ``_adapter`` / ``_column_acts`` / ``_column_latent`` functions below without module
calls (what :class:`~simtransfer.transfer.progressive.ProgressiveTower` compiles its plan from).

>>> import torch
>>> IndexMap(3, [2, -1])(torch.tensor([[1.0, 2.0, 3.0]]))
tensor([[3., 0.]])
>>> compose_maps([1, -1], [4, 0, 2])
[0, -1]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from simtransfer.envs.errors import SimtransferError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


# functional forms of ACTIVATIONS (default arguments, so bit-identical to the modules), for the hot path
FUNCTIONAL: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
}


def activation_name(fn: str | type[nn.Module]) -> str:
    """The registry name of an activation given as a name or an ``nn.Module`` class."""
    if isinstance(fn, str):
        if fn.lower() not in ACTIVATIONS:
            raise SimtransferError(f"unknown activation '{fn}' (known: {', '.join(ACTIVATIONS)})")
        return fn.lower()
    for name, cls in ACTIVATIONS.items():
        if fn is cls:
            return name
    raise SimtransferError(f"unsupported activation {fn!r} (known: {', '.join(ACTIVATIONS)})")


def make_activation(fn: str | type[nn.Module]) -> nn.Module:
    return ACTIVATIONS[activation_name(fn)]()


def freeze_to_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` into a buffer of the same name (``requires_grad=False``).

    Names in ``state_dict`` are unchanged, so weights load by name whether frozen or not.
    """
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, param.detach().clone())
    return module


def check_index_map(index_map: Sequence[int] | None, n_in: int, n_out: int | None, what: str) -> list[int] | None:
    """Validate an observation index map: entry j is the input index feeding output j, or -1 for zero."""
    if index_map is None:
        if n_out is not None and n_out != n_in:
            raise SimtransferError(f"{what}: input has {n_in} dims but the column expects {n_out}; give an index map")
        return None
    out = [int(i) for i in index_map]
    if n_out is not None and len(out) != n_out:
        raise SimtransferError(f"{what}: index map has {len(out)} entries, the column expects {n_out}")
    bad = [i for i in out if i < -1 or i >= n_in]
    if bad:
        raise SimtransferError(f"{what}: index map entries {bad} outside [-1, {n_in - 1}]")
    return out


class IndexMap(nn.Module):
    """``y[..., j] = x[..., m[j]]`` and 0 where ``m[j] == -1`` (identity when the map is None)."""

    def __init__(self, n_in: int, index_map: Sequence[int] | None) -> None:
        super().__init__()
        self.n_in = n_in
        self.identity = index_map is None
        idx = [n_in if i < 0 else i for i in (index_map or [])]
        self.register_buffer("index", torch.tensor(idx, dtype=torch.long), persistent=False)

    @property
    def n_out(self) -> int:
        return self.n_in if self.identity else int(self.index.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return x
        return F.pad(x, (0, 1)).index_select(-1, self.index)


def compose_maps(inner: Sequence[int] | None, outer: Sequence[int] | None) -> list[int] | None:
    """The map of ``IndexMap(outer)`` followed by ``IndexMap(inner)``, as one map (None = identity)."""
    if inner is None:
        return None if outer is None else list(outer)
    if outer is None:
        return list(inner)
    return [-1 if i < 0 else int(outer[i]) for i in inner]


# The hot path below works on plain tuples of tensors ("specs") instead of calling submodules: at PPO's batch
# sizes a progressive column's cost is per-call Python overhead (module calls, attribute look-ups), not
# arithmetic. A spec holds the very parameter/buffer objects, so in-place updates (optimizers, Polyak,
# load_state_dict) show through; ProgressiveTower rebuilds its specs after .to()/load_state_dict.
AdapterSpec = tuple[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None", Callable]


def _adapter(spec: AdapterSpec, hs: Sequence[torch.Tensor]) -> torch.Tensor:
    alpha, reduce_w, reduce_b, project_w, act = spec
    if len(hs) == 1:  # the common case: skip the concatenation
        x = alpha * hs[0]
    else:
        x = torch.cat([alpha[j] * h for j, h in enumerate(hs)], dim=-1)
    x = act(F.linear(x, reduce_w, reduce_b))
    return x if project_w is None else F.linear(x, project_w)


class LateralAdapter(nn.Module):
    """``U σ(V [α_1 h_1; …; α_K h_K] + c)``; without U (``out_dim=None``) it returns the reduced σ(·)."""

    def __init__(
        self, in_dims: Sequence[int], reduce_to: int, out_dim: int | None, activation: str, alpha_init: float
    ) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((len(in_dims),), float(alpha_init)))
        self.reduce = nn.Linear(sum(in_dims), reduce_to)
        self.act = make_activation(activation)
        self.project = None if out_dim is None else nn.Linear(reduce_to, out_dim, bias=False)
        self._act_fn = FUNCTIONAL[activation_name(activation)]

    def spec(self) -> AdapterSpec:
        project = None if self.project is None else self.project.weight
        return self.alpha, self.reduce.weight, self.reduce.bias, project, self._act_fn

    def forward(self, hs: Sequence[torch.Tensor]) -> torch.Tensor:
        return _adapter(self.spec(), hs)


def _reduce_width(adapter_width: int | None, own_width: int) -> int:
    """Rusu et al. reduce to the receiving column's width; ``adapter_width`` caps it."""
    return own_width if adapter_width is None else max(1, min(int(adapter_width), own_width))


class MlpColumn(nn.Module):
    """One column: linear layers, lateral adapters into layers 2..L and an optional head adapter."""

    def __init__(
        self,
        in_dim: int,
        arch: Sequence[int],
        activation: str,
        lateral_archs: Sequence[Sequence[int]],
        alpha_init: float,
        adapter_width: int | None,
        head_lateral: bool,
    ) -> None:
        super().__init__()
        self.arch = [int(w) for w in arch]
        self.act = make_activation(activation)
        dims = [in_dim, *self.arch]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        # lateral into layer i (0-based, i >= 1) takes layer i-1 of every source that has it
        self.lateral_sources: dict[str, list[int]] = {}
        self.laterals = nn.ModuleDict()
        for i in range(1, len(self.arch)):
            srcs = [j for j, a in enumerate(lateral_archs) if len(a) >= i]
            if srcs:
                in_dims = [lateral_archs[j][i - 1] for j in srcs]
                r = _reduce_width(adapter_width, self.arch[i - 1])
                self.laterals[str(i)] = LateralAdapter(in_dims, r, self.arch[i], activation, alpha_init)
                self.lateral_sources[str(i)] = srcs
        self.head_sources = [j for j, a in enumerate(lateral_archs) if self.arch and len(a) >= len(self.arch)]
        self.head = None
        if head_lateral and self.head_sources:
            in_dims = [lateral_archs[j][len(self.arch) - 1] for j in self.head_sources]
            r = _reduce_width(adapter_width, self.arch[-1])
            self.head = LateralAdapter(in_dims, r, None, activation, alpha_init)
        self.out_dim = (self.arch[-1] if self.arch else in_dim) + (self.head.reduce.out_features if self.head else 0)
        self._act_fn = FUNCTIONAL[activation_name(activation)]

    def spec(self) -> tuple:
        """(activation, [(W, b, (adapter spec, sources, source layer) or None) per layer], head or None)."""
        steps = []
        for i, layer in enumerate(self.layers):
            lateral = None
            if str(i) in self.laterals:
                lateral = (self.laterals[str(i)].spec(), self.lateral_sources[str(i)], i - 1)
            steps.append((layer.weight, layer.bias, lateral))
        head = None if self.head is None else (self.head.spec(), self.head_sources, len(self.arch) - 1)
        return self._act_fn, steps, head

    def forward(self, x: torch.Tensor, lateral_acts: Sequence[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Hidden activations of every layer; ``lateral_acts[j]`` are those of the j-th lateral source."""
        return _column_acts(self.spec(), x, lateral_acts)

    def latent(self, x: torch.Tensor, acts: list[torch.Tensor], lateral_acts: Sequence[list[torch.Tensor]]):
        """What the head sees: last hidden layer, plus the reduced head lateral when there is one."""
        return _column_latent(self.spec(), x, acts, lateral_acts)


def _column_acts(spec: tuple, x: torch.Tensor, lateral_acts: Sequence[list[torch.Tensor]]) -> list[torch.Tensor]:
    act, steps, _ = spec
    acts: list[torch.Tensor] = []
    h = x
    for weight, bias, lateral in steps:
        z = F.linear(h, weight, bias)
        if lateral is not None:
            adapter, srcs, prev = lateral
            z = z + _adapter(adapter, [lateral_acts[j][prev] for j in srcs])
        h = act(z)
        acts.append(h)
    return acts


def _column_latent(spec: tuple, x: torch.Tensor, acts: list[torch.Tensor], lateral_acts: Sequence[list[torch.Tensor]]):
    head = spec[2]
    last = acts[-1] if acts else x
    if head is None:
        return last
    adapter, srcs, prev = head
    return torch.cat([last, _adapter(adapter, [lateral_acts[j][prev] for j in srcs])], dim=-1)


def _check_columns(columns: Sequence[dict[str, Any]]) -> None:
    if not columns:
        raise SimtransferError("a progressive tower needs at least one column")
    for k, col in enumerate(columns):
        lat = col.get("lateral_from", list(range(k)) if k == len(columns) - 1 else [])
        if any(not 0 <= j < k for j in lat):
            raise SimtransferError(f"column {k}: lateral_from {lat} must name earlier columns")
