"""``freeze``: load the source, freeze chosen layers (by block name, group, glob or depth), train the rest.

Frozen tensors get ``requires_grad=False`` and are removed from every optimizer, so Adam's momentum or weight
decay cannot move them.  Options: ``layers`` (selectors, see :mod:`transfer.layers`), ``depth`` (freeze the
first K blocks of every chain; default 1 when ``layers`` is empty), plus the common options.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from transfer.methods import MethodOptions, SourceRun, TransferMethod, register
from transfer.methods.common import carry_normalization, load_source
from transfer.weights import TransferReport, freeze


class FreezeOptions(MethodOptions):
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
        selectors = list(options.layers)
        if options.depth is not None or not selectors:
            selectors.append(f"depth:{options.depth or 1}")
        report.frozen = freeze(model, selectors)
        return report
