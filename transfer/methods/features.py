"""``features``: the source trunk (features extractor + hidden layers of actor and critic) frozen as a feature
extractor; new action/value heads (re-initialised by default) trained on top.

Options: ``reinit_head`` (default true), ``train_critic`` (keep the critic's hidden layers trainable, freeze
only the actor's), plus the common options.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from simtransfer.transfer.layers import HEADS, block_map, chains
from simtransfer.transfer.methods import MethodOptions, SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import carry_normalization, load_source
from simtransfer.transfer.weights import TransferReport, freeze_names


class FeaturesOptions(MethodOptions):
    reinit_head: bool = Field(default=True, description="re-initialise the action/value heads (new heads)")
    train_critic: bool = Field(default=False, description="keep the critic's hidden layers trainable")


def trunk_blocks(model: Any, train_critic: bool = False) -> list[str]:
    """Blocks of the shared features extractor and the hidden layers (of the actor only if ``train_critic``)."""
    seqs = chains(model.policy)
    keep = ["actor"] if train_critic else list(seqs)
    blocks: list[str] = []
    for chain in keep:
        blocks += [b for b in seqs.get(chain, []) if b not in HEADS and b not in blocks]
    return blocks


@register
class Features(TransferMethod):
    name = "features"
    summary = "frozen source trunk as a feature extractor, new heads trained"
    Options = FeaturesOptions

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        load_source(model, sources[0], options, report)
        carry_normalization(model, vec_env, sources[0], options, report)
        blocks = block_map(model.policy)
        loaded = set(report.loaded)  # a new learned adapter in the trunk stays trainable
        names = [n for b in trunk_blocks(model, options.train_critic) for n in blocks[b] if n in loaded]
        report.frozen = freeze_names(model, names)
        return report
