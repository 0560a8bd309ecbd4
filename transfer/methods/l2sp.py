"""``l2sp``: fine-tune with a pull toward the source weights, α/2·‖w − w_src‖² (Li et al. 2018, "L2-SP"),
plus an optional β/2·‖w‖² on the tensors that were not loaded (new layers).

SB3 has no loss hook, so the penalty enters as a gradient hook on every parameter (see :mod:`simtransfer.transfer.l2sp`):
it works unchanged for PPO, A2C, SAC, TD3 and DQN.  Options: ``alpha``, ``beta``, plus finetune's options.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from simtransfer.transfer.l2sp import L2SP
from simtransfer.transfer.methods import SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import attach_keep, carry_normalization, load_source
from simtransfer.transfer.methods.finetune import FinetuneOptions, apply_lr_scales
from simtransfer.transfer.weights import TransferReport


class L2SPOptions(FinetuneOptions):
    alpha: float = Field(default=0.01, ge=0, description="strength of the pull toward the source weights")
    beta: float = Field(default=0.0, ge=0, description="plain L2 strength on new (not loaded) tensors")


@register
class L2SPMethod(TransferMethod):
    name = "l2sp"
    summary = "fine-tune with an L2 penalty toward the source weights (L2-SP)"
    Options = L2SPOptions

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        load_source(model, sources[0], options, report)
        carry_normalization(model, vec_env, sources[0], options, report)
        apply_lr_scales(model, options, report)
        reg = L2SP.attach(model.policy, anchors=set(report.loaded), alpha=options.alpha, beta=options.beta)
        report.notes.append(f"L2-SP alpha={options.alpha} on {len(reg.anchored)} tensors, beta={options.beta} on "
                            f"{len(reg.new)} new tensors")
        attach_keep(model, options, report)
        return report
