"""``freeze``: load the source, freeze chosen layers (by block name, group, glob or depth), train the rest.

Frozen tensors get ``requires_grad=False`` and are removed from every optimizer, so Adam's momentum or weight
decay cannot move them.  Options: ``layers`` (selectors, see :mod:`simtransfer.transfer.layers`), ``depth`` (freeze the
first K blocks of every chain; default 1 when ``layers`` is empty), plus the common options.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.layers import block_map, chains, select_parameters
from simtransfer.transfer.methods import SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import KeepOptions, attach_keep, carry_normalization, load_source
from simtransfer.transfer.weights import TransferReport, freeze_names


class FreezeOptions(KeepOptions):
    layers: list[str] = Field(default_factory=list, description="layers to freeze: block names, groups, globs")
    depth: int | None = Field(default=None, ge=1, description="freeze the first K blocks of every chain")


@register
class Freeze(TransferMethod):
    name = "freeze"
    summary = "load every source weight, freeze chosen layers, train the rest"
    Options = FreezeOptions

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        load_source(model, sources[0], options, report)
        carry_normalization(model, vec_env, sources[0], options, report)
        report.frozen = freeze_names(model, frozen_names(model, options, set(report.loaded)))
        attach_keep(model, options, report)
        return report


def frozen_names(model: Any, options: Any, loaded: set[str]) -> list[str]:
    """The loaded parameters to freeze: the ``layers`` selectors, plus the first ``depth`` blocks of every chain.

    Depth counts only blocks that came from the source (a new learned adapter is not the source's first
    layer), and tensors left at their fresh initialisation are never frozen.
    """
    policy = model.policy
    names = select_parameters(policy, options.layers) if options.layers else []
    if options.depth is not None or not options.layers:
        blocks = block_map(policy)
        for seq in chains(policy).values():
            from_source = [b for b in seq if any(n in loaded for n in blocks[b])]
            names += [n for b in from_source[: options.depth or 1] for n in blocks[b]]
    chosen = [n for n in dict.fromkeys(names) if n in loaded]
    if not chosen:
        raise SimtransferError("nothing to freeze: the chosen layers hold no tensor loaded from the source")
    return chosen
