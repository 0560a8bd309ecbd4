"""``partial``: load the source tensors whose (key-mapped) name and shape match; report the rest.

The report (loaded / skipped for shape / not in target / newly initialised) goes to ``RUN/transfer_report.json``
and the terminal.  Options: ``key_map`` (prefix map or ``[[regex, replacement], ...]``), ``exclude`` (layer
selectors never loaded), ``freeze`` (layer selectors frozen after loading), plus the common options.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from simtransfer.transfer.layers import select_parameters
from simtransfer.transfer.methods import MethodOptions, SourceRun, TransferMethod, register
from simtransfer.transfer.methods.common import carry_normalization, load_source
from simtransfer.transfer.weights import TransferReport, freeze


class PartialOptions(MethodOptions):
    exclude: list[str] = Field(default_factory=list, description="layer selectors never loaded from the source")
    freeze: list[str] = Field(default_factory=list, description="layer selectors frozen after loading")


@register
class Partial(TransferMethod):
    name = "partial"
    summary = "load tensors by name and shape (optional key map); report loaded / skipped / new"
    Options = PartialOptions
    requires_matching_spaces = False

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: Any) -> TransferReport:
        report = TransferReport(method=self.name)
        exclude = select_parameters(model.policy, options.exclude) if options.exclude else []
        load_source(model, sources[0], options, report, strict=False, exclude=exclude)
        try:
            carry_normalization(model, vec_env, sources[0], options, report)
        except Exception as exc:  # noqa: BLE001 - spaces differ by design here: fall back and say so
            report.normalization = "reestimate"
            report.notes.append(f"normalisation not carried: {exc}")
        if options.freeze:
            report.frozen = freeze(model, options.freeze)
        return report
