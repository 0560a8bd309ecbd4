"""``scratch``: the baseline — same config, budget and hyper-parameters as the source, fresh weights."""

from __future__ import annotations

from typing import Any

from simtransfer.transfer.methods import MethodOptions, SourceRun, TransferMethod, register
from simtransfer.transfer.weights import TransferReport


@register
class Scratch(TransferMethod):
    name = "scratch"
    summary = "train from scratch on the target with the source's config (the baseline for every comparison)"
    uses_weights = False

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: MethodOptions) -> TransferReport:
        names = [n for n in model.policy.state_dict()]
        report = TransferReport(method=self.name, new=names, normalization="reestimate")
        return report
