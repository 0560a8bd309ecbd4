"""``finetune``: start from all source weights and train everything (optionally lower / layer-wise learning rates).

Options: ``learning_rate`` (absolute), ``lr_decay`` γ (a block at depth d of a chain of L blocks learns at
γ^(L-1-d) × lr — heads at full rate), ``lr_scales`` (selector → factor, e.g. ``{"pi.0": 0.1}``),
``reinit_head``, ``normalization``, ``key_map``, ``adapter``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from simtransfer.transfer.layers import select_parameters
from simtransfer.transfer.methods import SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import KeepOptions, attach_keep, carry_normalization, load_source
from simtransfer.transfer.weights import TransferReport, layerwise_scales, rebuild_optimizers


class FinetuneOptions(KeepOptions):
    lr_decay: float | None = Field(default=None, gt=0, le=1, description="layer-wise learning-rate decay per block of depth")
    lr_scales: dict[str, float] = Field(default_factory=dict, description="layer selector -> learning-rate factor")


def apply_lr_scales(model: Any, options: Any, report: TransferReport) -> None:
    """Rebuild the optimizers with per-parameter learning-rate factors from ``lr_decay`` / ``lr_scales``."""
    scales: dict[str, float] = {}
    if options.lr_decay is not None:
        scales.update(layerwise_scales(model.policy, options.lr_decay))
    for selector, factor in options.lr_scales.items():
        for n in select_parameters(model.policy, [selector]):
            scales[n] = float(factor)
    if scales:
        rebuild_optimizers(model, scales)
        report.lr_scales = {n: s for n, s in scales.items() if s != 1.0}


@register
class Finetune(TransferMethod):
    name = "finetune"
    summary = "load every source weight, train all of them on the target"
    Options = FinetuneOptions

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        load_source(model, sources[0], options, report)
        carry_normalization(model, vec_env, sources[0], options, report)
        apply_lr_scales(model, options, report)
        attach_keep(model, options, report)  # after apply_lr_scales: it hooks the optimizer that will step
        return report
