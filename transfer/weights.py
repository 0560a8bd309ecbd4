"""Move weights between SB3 policies: load by name and shape (with a key map), freeze for real, re-sync targets.

>>> report = load_weights(model.policy, source_state_dict, key_map={"old.": "new."})   # doctest: +SKIP
>>> freeze(model, ["pi.0", "vf.0"])                                                    # doctest: +SKIP

Freezing sets ``requires_grad=False`` AND rebuilds every optimizer without the frozen tensors (SB3's Adam would
otherwise still move them through weight decay or momentum).  Per-block learning-rate scales (layer-wise decay)
are stored as ``lr_scale`` in the optimizer's param groups and applied on every step, on top of SB3's schedule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.layers import assign_blocks, block_depths, is_target_param, select_parameters

KeyMap = Mapping[str, str] | list[tuple[str, str]] | list[list[str]] | None


@dataclass
class TransferReport:
    """What a transfer method did to the target policy; written to ``RUN/transfer_report.json``."""

    method: str = ""
    loaded: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # target name -> source name, where they differ
    skipped_shape: list[dict[str, Any]] = field(default_factory=list)
    skipped_unused: list[str] = field(default_factory=list)  # source tensors with no target tensor
    new: list[str] = field(default_factory=list)  # target tensors left at their fresh initialisation
    reinitialized: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    lr_scales: dict[str, float] = field(default_factory=dict)
    targets_synced: list[str] = field(default_factory=list)
    normalization: str = "n/a"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few human lines for the terminal."""
        lines = [
            f"transfer [{self.method}]: loaded {len(self.loaded)} tensors, new {len(self.new)}, "
            f"skipped {len(self.skipped_shape)} (shape) + {len(self.skipped_unused)} (not in target), "
            f"frozen {len(self.frozen)}, normalization {self.normalization}"
        ]
        for s in self.skipped_shape:
            lines.append(f"  skipped {s['source']} {s['source_shape']} -> {s['target']} {s['target_shape']}")
        shape_skipped = {s["target"] for s in self.skipped_shape}
        lines.extend(f"  new     {n}" for n in self.new if n not in shape_skipped)
        lines.extend(f"  note    {n}" for n in self.notes)
        return "\n".join(lines)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def map_key(name: str, key_map: KeyMap) -> str:
    """Apply a key map to a *source* tensor name.

    A mapping is a prefix map (``{"mlp_extractor.policy_net.": "actor.latent_pi."}``, longest prefix wins);
    a list of ``[regex, replacement]`` pairs is applied in order with :func:`re.sub`.
    """
    if not key_map:
        return name
    if isinstance(key_map, Mapping):
        for prefix in sorted(key_map, key=len, reverse=True):
            if name.startswith(prefix):
                return key_map[prefix] + name[len(prefix):]
        return name
    for pair in key_map:
        if len(pair) != 2:
            raise SimtransferError(f"bad key map entry {pair!r}: expected [regex, replacement]")
        try:
            name = re.sub(pair[0], pair[1], name)
        except re.error as exc:
            raise SimtransferError(f"bad key map regex '{pair[0]}': {exc}") from None
    return name


def load_weights(
    policy: nn.Module,
    source: Mapping[str, torch.Tensor],
    *,
    key_map: KeyMap = None,
    exclude: Iterable[str] = (),
    strict: bool = False,
    report: TransferReport | None = None,
) -> TransferReport:
    """Copy source tensors into ``policy`` by (mapped) name where shapes agree; report the rest.

    ``exclude``: target parameter names to leave at their fresh initialisation (e.g. re-initialised heads).
    ``strict``: a shape mismatch is a one-line error instead of a skip.  Target-network tensors are never
    loaded from the source; call :func:`sync_targets` afterwards.
    """
    report = report or TransferReport()
    target = policy.state_dict()
    excluded = set(exclude)
    mapped: dict[str, str] = {}
    for src_name in source:
        if src_name.startswith("vecnormalize.") or is_target_param(src_name):
            continue
        tgt_name = map_key(src_name, key_map)
        if tgt_name not in target:
            report.skipped_unused.append(src_name)
            continue
        mapped.setdefault(tgt_name, src_name)
    new_values: dict[str, torch.Tensor] = {}
    for tgt_name, tensor in target.items():
        if is_target_param(tgt_name):
            continue
        src_name = mapped.get(tgt_name)
        if src_name is None or tgt_name in excluded:
            (report.reinitialized if tgt_name in excluded else report.new).append(tgt_name)
            continue
        src = source[src_name]
        if tuple(src.shape) != tuple(tensor.shape):
            if strict:
                raise SimtransferError(
                    f"cannot load '{src_name}': source shape {tuple(src.shape)} != target shape "
                    f"{tuple(tensor.shape)} of '{tgt_name}' (use an adapter or --method partial)"
                )
            report.skipped_shape.append(
                {"source": src_name, "target": tgt_name, "source_shape": list(src.shape),
                 "target_shape": list(tensor.shape)}
            )
            report.new.append(tgt_name)
            continue
        new_values[tgt_name] = src.detach().to(dtype=tensor.dtype, device=tensor.device)
        report.loaded.append(tgt_name)
        if src_name != tgt_name:
            report.renamed[tgt_name] = src_name
    with torch.no_grad():
        current = policy.state_dict(keep_vars=True)
        for name, value in new_values.items():
            current[name].copy_(value)
    return report


def sync_targets(model: Any, report: TransferReport | None = None) -> list[str]:
    """Copy online networks into their targets (``critic_target ← critic`` etc.); returns the synced names."""
    policy = model.policy if hasattr(model, "policy") else model
    synced = []
    for name, module in list(policy.named_children()):
        if name.endswith("_target") and isinstance(getattr(policy, name[: -len("_target")], None), nn.Module):
            module.load_state_dict(getattr(policy, name[: -len("_target")]).state_dict())
            synced.append(name)
    if report is not None:
        report.targets_synced = synced
    return synced


def _optimizer_owners(policy: nn.Module) -> list[nn.Module]:
    return [m for m in policy.modules() if isinstance(getattr(m, "optimizer", None), torch.optim.Optimizer)]


class _LayerScaledMixin:
    """Multiplies each param group's ``lr`` by its ``lr_scale`` during ``step`` (SB3 resets ``lr`` every update)."""

    def step(self, closure=None):  # type: ignore[no-untyped-def]
        saved = [g["lr"] for g in self.param_groups]  # type: ignore[attr-defined]
        for g in self.param_groups:  # type: ignore[attr-defined]
            g["lr"] = g["lr"] * g.get("lr_scale", 1.0)
        try:
            return super().step(closure)  # type: ignore[misc]
        finally:
            for g, lr in zip(self.param_groups, saved):  # type: ignore[attr-defined]
                g["lr"] = lr


_SCALED_CLASSES: dict[type, type] = {}


def _scaled_class(cls: type) -> type:
    if issubclass(cls, _LayerScaledMixin):
        return cls
    if cls not in _SCALED_CLASSES:
        _SCALED_CLASSES[cls] = type(f"LayerScaled{cls.__name__}", (_LayerScaledMixin, cls), {})
    return _SCALED_CLASSES[cls]


def rebuild_optimizers(model: Any, lr_scales: Mapping[str, float] | None = None) -> None:
    """Rebuild every SB3 optimizer with only ``requires_grad`` parameters, grouped by learning-rate scale.

    Hyper-parameters (lr, betas, eps, weight decay, ...) are kept; optimizer state is dropped (call before learning).
    """
    policy = model.policy if hasattr(model, "policy") else model
    names = {id(p): n for n, p in policy.named_parameters()}
    scales = dict(lr_scales or {})
    for owner in _optimizer_owners(policy):
        old = owner.optimizer
        groups: list[dict[str, Any]] = []
        for g in old.param_groups:
            hyper = {k: v for k, v in g.items() if k not in ("params", "lr_scale")}
            by_scale: dict[float, list[nn.Parameter]] = {}
            for p in g["params"]:
                if p.requires_grad:
                    by_scale.setdefault(float(scales.get(names.get(id(p), ""), 1.0)), []).append(p)
            for scale, params in by_scale.items():
                groups.append({**hyper, "params": params, "lr_scale": scale})
        if not groups:
            # everything this optimizer owned is frozen: keep SB3's zero_grad/step calls valid and harmless
            groups = [{"params": [nn.Parameter(torch.zeros(0))], "lr_scale": 1.0}]
        cls = type(old)
        if any(g["lr_scale"] != 1.0 for g in groups):
            cls = _scaled_class(cls)
        owner.optimizer = cls(groups, **old.defaults)


def optimizer_parameter_names(model: Any) -> set[str]:
    """Names of all parameters some SB3 optimizer of ``model`` updates."""
    policy = model.policy if hasattr(model, "policy") else model
    names = {id(p): n for n, p in policy.named_parameters()}
    return {names[id(p)] for o in _optimizer_owners(policy) for g in o.optimizer.param_groups
            for p in g["params"] if id(p) in names}


def freeze(model: Any, selectors: Iterable[str | int], *, rebuild: bool = True) -> list[str]:
    """Freeze the parameters the selectors match (see :func:`simtransfer.transfer.layers.select_parameters`)."""
    policy = model.policy if hasattr(model, "policy") else model
    return freeze_names(model, select_parameters(policy, selectors), rebuild=rebuild)


def freeze_names(model: Any, names: Iterable[str], *, rebuild: bool = True) -> list[str]:
    """Freeze the named parameters: ``requires_grad=False`` and out of every optimizer; returns them in order."""
    policy = model.policy if hasattr(model, "policy") else model
    params = dict(policy.named_parameters())
    wanted = set(names)
    unknown = wanted - set(params)
    if unknown:
        raise SimtransferError(f"cannot freeze unknown parameter(s): {', '.join(sorted(unknown))}")
    chosen = [n for n in params if n in wanted]
    for n in chosen:
        params[n].requires_grad_(False)
    if not any(p.requires_grad for n, p in params.items() if not is_target_param(n)):
        raise SimtransferError("freezing these layers leaves nothing to train (use --method zeroshot instead)")
    if rebuild:
        rebuild_optimizers(model)
    return chosen


def layerwise_scales(policy: nn.Module, decay: float) -> dict[str, float]:
    """Layer-wise learning-rate decay: a block at depth d of a chain of length L gets ``decay ** (L-1-d)``."""
    depths = block_depths(policy)
    out = {}
    for n, b in assign_blocks([n for n, _ in policy.named_parameters()]).items():
        if b is None or b not in depths:
            continue
        d, length = depths[b]
        out[n] = float(decay ** (length - 1 - d))
    return out
