"""Transfer methods: one small module each, one seam, a registry by name.

A method is an object with

* ``Options`` — a pydantic model of its options (``--set method.key=value`` / CLI flags / Python kwargs);
* ``configure(config, sources, options) -> TrainConfig`` — derive the target run's config from the source's
  (learning rate, policy class/kwargs, adapters); must not touch the sources;
* ``prepare_model(model, vec_env, sources, options) -> TransferReport`` — called through
  ``simtransfer.agents.train.train(..., prepare_model=...)`` once the SB3 model is built and before learning: load,
  freeze, re-wire weights, carry normalisation statistics.

``learns = False`` marks a method that only evaluates (``zeroshot``): it implements ``run(config, sources,
options, run_dir, metadata, force=...)`` instead.  ``requires_matching_spaces = False`` skips the up-front
space check (``partial`` copes with mismatches itself).  ``max_sources`` > 1 allows chains
(``progressive``).  Register a new method with ``@register``; ``get_method(name)`` also accepts
``package.module:Class``.

>>> from simtransfer.transfer.methods import get_method
>>> m = get_method("freeze")                                               # doctest: +SKIP
>>> opts = m.parse_options({"layers": ["pi.0", "vf.0"]})                   # doctest: +SKIP
>>> cfg = m.configure(source_config, [src], opts)                          # doctest: +SKIP
>>> train(cfg, "runs/t", prepare_model=lambda mdl, venv: m.prepare_model(mdl, venv, [src], opts))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simtransfer.agents.config import TrainConfig, update_config
from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.trust import resolve_component
from simtransfer.transfer.adapters import configure_adapters
from simtransfer.transfer.source import SourceRun
from simtransfer.transfer.weights import TransferReport

__all__ = [
    "BUILTIN",
    "MethodOptions",
    "SourceRun",
    "TransferMethod",
    "TransferReport",
    "TransferResult",
    "available_methods",
    "get_method",
    "register",
]


@dataclass
class TransferResult:
    """Where a transfer run is, what the method did, and how it scored (``eval.json`` contents)."""

    run_dir: Path
    method: str
    report: dict[str, Any] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves: dict[str, dict[str, list]] = field(default_factory=dict)


class MethodOptions(BaseModel):
    """Options every weight-reuse method understands."""

    model_config = ConfigDict(extra="forbid")

    normalization: Literal["carry", "reestimate"] = Field(
        default="carry", description="carry the source's VecNormalize statistics, or re-estimate them on the target"
    )
    freeze_obs_stats: bool = Field(
        default=True, description="keep the carried observation statistics fixed on the target (no running update)")
    freeze_reward_stats: bool = Field(
        default=True, description="keep the carried return statistics (reward scale) fixed on the target")
    reinit_head: bool = Field(default=False, description="re-initialise the action/value heads instead of loading them")
    learning_rate: float | None = Field(default=None, gt=0, description="learning rate for the target run (None: source's)")
    key_map: dict[str, str] | list[tuple[str, str]] | None = Field(
        default=None, description="source→target tensor names: prefix map {old: new} or [[regex, replacement], ...]"
    )
    adapter: str | None = Field(default=None, description="space-adapter preset (see transfer.adapters.PRESETS)")
    adapter_mode: Literal["index", "learned"] = Field(
        default="index", description="index: fixed observation index map; learned: trainable linear projection"
    )


class TransferMethod:
    """Base class: ``configure`` applies the common options; subclasses implement ``prepare_model``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    learns: ClassVar[bool] = True
    uses_weights: ClassVar[bool] = True
    max_sources: ClassVar[int] = 1
    requires_matching_spaces: ClassVar[bool] = True  # check source vs target spaces (after adapters) up front

    def parse_options(self, raw: Mapping[str, Any] | MethodOptions | None = None) -> MethodOptions:
        """Validate options; an unknown key or bad value is a one-line error naming the method."""
        if isinstance(raw, self.Options):
            return raw
        try:
            return self.Options.model_validate(dict(raw or {}))
        except ValidationError as exc:
            known = ", ".join(self.Options.model_fields)
            raise validation_error(exc, f"method '{self.name}'", prefix="option ", hint=f"options: {known}") from None

    def check_sources(self, sources: list[SourceRun]) -> None:
        if self.uses_weights and not sources:
            raise SimtransferError(f"method '{self.name}' needs a source run")
        if len(sources) > self.max_sources:
            raise SimtransferError(f"method '{self.name}' takes at most {self.max_sources} source run(s), got {len(sources)}")

    def configure(self, config: TrainConfig, sources: list[SourceRun], options: MethodOptions) -> TrainConfig:
        """Default: apply ``learning_rate`` and the adapter preset to ``config``."""
        if options.learning_rate is not None:
            config = update_config(config, {"hyperparams.learning_rate": options.learning_rate})
        if options.adapter:
            config = configure_adapters(config, options.adapter, options.adapter_mode)
        return config

    def prepare_model(self, model: Any, vec_env: Any, sources: list[SourceRun], options: MethodOptions) -> TransferReport:
        raise NotImplementedError

    def run(self, config: TrainConfig, sources: list[SourceRun], options: MethodOptions, run_dir: Any,
            metadata: dict[str, Any], *, force: bool = False) -> TransferResult:
        """Only for ``learns = False`` methods: produce the run directory without training."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "learns": self.learns,
                "options": {k: f.description for k, f in self.Options.model_fields.items()}}


# built-in methods, imported on first use so ``simtransfer --help`` stays fast
BUILTIN: dict[str, str] = {
    "scratch": "simtransfer.transfer.methods.scratch",
    "zeroshot": "simtransfer.transfer.methods.zeroshot",
    "finetune": "simtransfer.transfer.methods.finetune",
    "freeze": "simtransfer.transfer.methods.freeze",
    "features": "simtransfer.transfer.methods.features",
    "partial": "simtransfer.transfer.methods.partial",
    "l2sp": "simtransfer.transfer.methods.l2sp",
    "progressive": "simtransfer.transfer.methods.progressive",
}
_REGISTRY: dict[str, TransferMethod] = {}


def register(cls: type[TransferMethod]) -> type[TransferMethod]:
    """Class decorator: register an instance of ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls()
    return cls


def get_method(name: str) -> TransferMethod:
    """The method registered as ``name`` (built-in, registered, or ``package.module:Class``)."""
    key = name.strip().lower().replace("_", "-")
    key = {"zero-shot": "zeroshot", "fine-tune": "finetune"}.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    if key in BUILTIN:
        importlib.import_module(BUILTIN[key])  # registers it
        return _REGISTRY[key]
    if ":" in name:
        obj = resolve_component(name, TransferMethod, field="method")
        method = obj() if isinstance(obj, type) else obj
        if not isinstance(method, TransferMethod):
            raise SimtransferError(f"'{name}' is not a transfer method (subclass transfer.methods.TransferMethod)")
        return method
    raise SimtransferError(f"unknown transfer method '{name}' (available: {', '.join(available_methods())})")


def available_methods() -> list[str]:
    """Names of all built-in and registered methods."""
    return sorted(set(BUILTIN) | set(_REGISTRY))
