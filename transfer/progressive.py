"""Progressive neural networks (Rusu et al. 2016): frozen source columns plus one trainable column.

A *tower* holds K+1 columns of layers. Column k's layer i+1 receives its own layer i and, through one
non-linear lateral adapter, layer i of every earlier column it lists in ``lateral_from``::

    h_{i+1}^k = f( W_{i+1}^k h_i^k + b + U_{i+1}^k  σ( V_{i+1}^k [α_1 h_i^1; …; α_K h_i^K] + c ) )

α are learned scalars (initialised small), V reduces the concatenated width (a 1x1 convolution for conv
layers), σ is the column's nonlinearity and U projects into layer i+1 (a conv with layer i+1's kernel and
stride for conv layers). The head of the last column sees ``[h_L^k; σ(V [α h_L^{<k}] + c)]``, so the
linear action/value head applies its own U. Frozen columns keep their tensors as *buffers*
(``requires_grad=False``): no optimizer, no Polyak update and no ``init_weights`` call can change them.

The SB3 policies built on these towers are in :mod:`simtransfer.transfer.progressive_policies`.

>>> import torch
>>> tower = ProgressiveTower(4, [{"arch": [8, 8]}, {"arch": [6, 6]}])
>>> tower(torch.zeros(3, 4)).shape   # last hidden (6) + head lateral (6)
torch.Size([3, 12])
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
        for name, param in list(sub._parameters.items()):
            del sub._parameters[name]
            sub.register_buffer(name, None if param is None else param.detach().clone())
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
        frozen, _ = self._fast or self._compile()
        with torch.no_grad():
            return self._frozen_acts(frozen, x, len(self.lateral_from))

    def forward(self, x: torch.Tensor, frozen: list[list[torch.Tensor]] | None = None) -> torch.Tensor:
        """The last column's latent: ``column_latent(last, mapped x)`` through the precompiled plan.

        ``frozen``: the frozen columns' activations for ``x`` computed before (:meth:`frozen_acts`), e.g. once
        per rollout for all of PPO's epochs (:mod:`simtransfer.transfer.progressive_cache`)."""
        plan_frozen, (k, index, spec, lateral) = self._fast or self._compile()
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
