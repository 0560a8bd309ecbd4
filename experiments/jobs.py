"""The jobs of an experiment: what ``simtransfer run`` plans, where each writes, what each is resolved from.

Shared by :mod:`~simtransfer.experiments.runner` (runs them), :mod:`~simtransfer.experiments.executors`
(ships them to workers) and :mod:`~simtransfer.experiments.fingerprints` (hashes their inputs).

>>> job = Job("cell", 0, "OUT/cells/hot/finetune/seed0", target="hot", method="finetune")
>>> job.title, job.marker.name
('hot/finetune/seed0', 'cell.json')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simtransfer.agents.config import TrainConfig, load_train_config, resolve_train_config
from simtransfer.agents.zoo import resolve_zoo, zoo_spec
from simtransfer.experiments.experiment import ExperimentConfig
from simtransfer.transfer.methods import TransferMethod, get_method

DONE = "done"


@dataclass(frozen=True)
class Job:
    """One unit of work: a source training run, a random-policy baseline, or a transfer cell."""

    kind: str  # "source" | "random" | "cell"
    seed: int
    out_dir: str
    target: str | None = None
    method: str | None = None  # method label
    source: str | None = None  # named source (None: the main one) a source job trains or a cell transfers from

    @property
    def marker(self) -> Path:
        return Path(self.out_dir) / ("cell.json" if self.kind == "cell" else "job.json")

    @property
    def title(self) -> str:
        if self.kind == "source":
            return f"source{f'[{self.source}]' if self.source else ''} seed{self.seed}"
        return f"{self.target}/{self.method or 'random'}/seed{self.seed}"


def is_done(job: Job, fingerprint: str | None = None) -> bool:
    """The job's marker says it finished (and, given ``fingerprint``, with these inputs or unrecorded ones)."""
    try:
        marker = json.loads(job.marker.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("status") != DONE:
        return False
    return fingerprint is None or marker.get("fingerprint") in (None, fingerprint)


def plan(cfg: ExperimentConfig, out: Path) -> tuple[list[Job], list[Job]]:
    """Source jobs (one per seed) and target jobs (random baselines + every cell)."""
    seeds = cfg.seed_list()
    sources = [Job("source", s, str(source_dir(out, None, s))) for s in seeds]
    sources += [Job("source", s, str(source_dir(out, name, s)), source=name) for name in cfg.sources for s in seeds]
    cells: list[Job] = []
    for t in cfg.targets:
        if cfg.budget.random_episodes > 0:
            cells += [Job("random", s, str(out / "cells" / t.name / "random" / f"seed{s}"), target=t.name)
                      for s in seeds]
        for m in cfg.all_methods():
            cells += [Job("cell", s, str(out / "cells" / t.name / m.label / f"seed{s}"), target=t.name,
                          method=m.label, source=m.source) for s in seeds]
    return sources, cells


def source_dir(out: Path, name: str | None, seed: int) -> Path:
    """Run directory of the main source (``name=None``) or of a named source, for one seed."""
    return out / "sources" / (f"seed{seed}" if name is None else f"{name}/seed{seed}")


def tracking_overrides(cfg: ExperimentConfig) -> list[str]:
    return [f"tracking.mode={cfg.tracking}", f"tracking.group={cfg.name}", "progress=false"]


def source_config(cfg: ExperimentConfig, seed: int, name: str | None = None) -> TrainConfig:
    """The resolved training config of the main source (``name=None``) or a named one, for one seed."""
    source = cfg.source_config(name)
    if source.zoo is not None:  # a shipped source: its own config, read from the checked zoo entry
        return load_train_config(resolve_zoo(zoo_spec(source.zoo, seed)) / "config.yaml", use_defaults=False)
    overrides = list(source.set) + tracking_overrides(cfg)
    if source.timesteps is not None:
        overrides.append(f"total_timesteps={source.timesteps}")
    if isinstance(source.config, str):
        return load_train_config(cfg.resolve_path(source.config), overrides, seed=seed)
    key = "source" if name is None else f"sources.{name}"
    return resolve_train_config(dict(source.config), overrides, source=f"{cfg.name}: {key}.config", seed=seed)


def method_options(cfg: ExperimentConfig, job: Job) -> tuple[TransferMethod, dict[str, Any]]:
    """The transfer method of a cell and its options (the target's adapter filled in where the method takes one)."""
    target = next(t for t in cfg.targets if t.name == job.target)
    mcfg = next(m for m in cfg.all_methods() if m.label == job.method)
    method = get_method(mcfg.method)
    options = dict(mcfg.options)
    if target.adapter and method.uses_weights and "adapter" in method.Options.model_fields:
        options.setdefault("adapter", target.adapter)
    return method, options
