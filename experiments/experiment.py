"""The typed experiment config: one source, held-out targets, transfer methods, seeds.

An experiment answers "did transfer help on these targets, by how much, and how sure are we?". Every
(target, method, seed) cell is compared against ``scratch`` on the same target, which is always added.

>>> from simtransfer.experiments.experiment import ExperimentConfig
>>> cfg = ExperimentConfig.model_validate({
...     "name": "demo", "source": {"config": "experiments/configs/inverted_pendulum.yaml"},
...     "targets": [{"env": "simtransfer/InvertedPendulumExtrap-v0", "name": "extrap"}],
...     "methods": ["finetune"], "seeds": 2})
>>> [m.label for m in cfg.all_methods()]
['scratch', 'finetune']
>>> cfg.seed_list()
[0, 1]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.spec import EnvSpec, load_yaml
from simtransfer.experiments.worst_case_stage import WorstCaseConfig

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class SourceConfig(BaseModel):
    """How the source policy is trained (once per seed, reused by every method and target)."""

    model_config = ConfigDict(extra="forbid")

    config: str | dict[str, Any] | None = Field(
        default=None, description="training config: a YAML path (relative to the experiment file) or an inline mapping")
    set: list[str] = Field(default_factory=list, description="overrides 'key=value' applied to the source config")
    timesteps: int | None = Field(default=None, gt=0, description="source training budget (None: the config's)")
    zoo: str | None = Field(
        default=None, description="a shipped source instead of training one: FAMILY/KIND (seed k of the experiment "
        "uses zoo:FAMILY/KIND/k; docs/zoo.md); written `source: zoo:FAMILY/KIND` for short")

    @model_validator(mode="before")
    @classmethod
    def _zoo_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("zoo:"):
            return {"zoo": value[len("zoo:"):]}
        return value

    @model_validator(mode="after")
    def _config_or_zoo(self) -> SourceConfig:
        if (self.config is None) == (self.zoo is None):
            raise ValueError("give a source either 'config' (trained here) or 'zoo' (a shipped source), not both")
        if self.zoo is not None and (self.set or self.timesteps is not None):
            raise ValueError("a zoo source is used as shipped: 'set' and 'timesteps' do not apply")
        if self.zoo is not None and (len(self.zoo.strip("/").split("/")) != 2):
            raise ValueError(f"zoo source {self.zoo!r}: expected FAMILY/KIND, e.g. zoo:pendulum/nominal")
        return self


class TargetConfig(BaseModel):
    """One held-out target: an env spec, plus what transfer needs to reach it."""

    model_config = ConfigDict(extra="forbid")

    env: EnvSpec = Field(description="target env: gymnasium id, 'pkg.mod:callable' or a full env spec")
    name: str | None = Field(default=None, description="short name used in paths and tables (default: from id)")
    adapter: str | None = Field(
        default=None, description="space-adapter preset for targets whose spaces differ (transfer.adapters)")
    threshold: float | None = Field(default=None, description="success threshold (default: the experiment's)")
    timesteps: int | None = Field(default=None, gt=0, description="per-target budget (default: the experiment's)")

    @field_validator("env", mode="before")
    @classmethod
    def _id_to_spec(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_name(self) -> TargetConfig:
        if self.name is None:
            self.name = self.env.display_name
        if not _LABEL.match(self.name):
            raise ValueError(f"target name '{self.name}' must be letters, digits and _.+- (it names a folder)")
        return self


class MethodConfig(BaseModel):
    """A transfer method with options; ``label`` tells two variants of one method apart."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="transfer method (scratch, zeroshot, finetune, freeze, features, partial, ...)")
    label: str | None = Field(default=None, description="name in paths and tables (default: the method)")
    options: dict[str, Any] = Field(default_factory=dict, description="method options (see docs/transfer.md)")
    source: str | None = Field(
        default=None, description="name of an entry of the experiment's ``sources`` to transfer from "
        "(default: the main ``source``), e.g. a source trained with ADR evaluated zero-shot")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"method": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_label(self) -> MethodConfig:
        self.label = self.label or self.method
        if not _LABEL.match(self.label):
            raise ValueError(f"method label '{self.label}' must be letters, digits and _.+- (it names a folder)")
        return self


class CalibrationConfig(BaseModel):
    """Real-to-sim calibration before the sources: collect on ``target``, calibrate ``sim``, and train the named
    ``sources`` on the calibrated preset (docs/calibration.md)."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="env the data is collected on (the robot, or a reality stand-in)")
    sim: str = Field(description="simulator to calibrate, e.g. simtransfer/InvertedPendulum-v0")
    policy: str = Field(default="scripted", description="random | scripted | a run directory")
    episodes: int = Field(default=10, ge=1, description="logged episodes")
    seed: int = Field(default=0, description="collection and calibration seed")
    params: list[str] | None = Field(default=None, description="parameters to fit (default: calibrate's)")
    budget: int = Field(default=400, ge=10, description="CMA-ES evaluations of the final fit")
    max_windows: int = Field(default=300, ge=10, description="prediction windows used")
    max_delay: int = Field(default=4, ge=0, description="largest delay tried, in steps")
    sources: list[str] = Field(min_length=1, description="named sources trained on the calibrated preset")


class VideoConfig(BaseModel):
    """A short clip per (method, target) for one seed, linked from the report and sent to W&B (experiments/video.py)."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, description="the seed whose cells are filmed (default: the first seed)")
    max_steps: int = Field(default=200, ge=1, le=10_000, description="frames per clip (one deterministic episode, "
                           "cut here)")
    episode_seed: int = Field(default=0, description="reset seed of the filmed episode")


class BudgetConfig(BaseModel):
    """Per-cell training and evaluation budget."""

    model_config = ConfigDict(extra="forbid")

    timesteps: int = Field(default=20_000, gt=0, description="target training steps per cell")
    eval_every: int = Field(default=2_000, gt=0, description="evaluate the cell's policy every N steps")
    eval_episodes: int = Field(default=5, ge=1, description="episodes per evaluation")
    final_episodes: int = Field(default=10, ge=1, description="episodes of the final evaluation (and zero-shot)")
    random_episodes: int = Field(default=10, ge=0, description="random-policy episodes per target (0: skip)")


class ExperimentConfig(BaseModel):
    """Source → targets × methods × seeds, with scratch as the baseline in every comparison."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="experiment name (W&B group, report title)")
    source: SourceConfig = Field(description="the source training run, once per seed")
    sources: dict[str, SourceConfig] = Field(
        default_factory=dict, description="further named sources (e.g. nominal, dr, adr), each trained once per "
        "seed; a method picks one with its ``source`` key")
    targets: list[TargetConfig] = Field(min_length=1, description="held-out targets")
    methods: list[MethodConfig] = Field(default_factory=lambda: [MethodConfig(method="finetune")],
                                        description="transfer methods (scratch is always added)")
    seeds: int | list[int] = Field(default=5, description="number of seeds (0..n-1) or an explicit list")
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="per-cell budget")
    calibration: CalibrationConfig | None = Field(
        default=None, description="collect -> calibrate before the sources; the listed sources train on the result")
    threshold: float | None = Field(default=None, description="success threshold for time-to-threshold")
    video: VideoConfig | None = Field(default=None, description="record a clip per (method, target) for one seed "
                                      "(off by default; docs/deploy.md)")
    tracking: Literal["offline", "online", "disabled"] = Field(
        default="offline", description="W&B mode for every run (WANDB_MODE takes precedence)")
    base_dir: str | None = Field(default=None, description="directory relative paths resolve against (set on load)")
    worst_case: WorstCaseConfig | None = Field(
        default=None, description="also search each cell's target parameters for its worst case (off unless set)")

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 1:
            raise ValueError("seeds must be ≥ 1")
        if isinstance(value, list) and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise ValueError("seeds must be a non-empty list of distinct non-negative integers")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ExperimentConfig:
        for what, names in (("target", [t.name for t in self.targets]),
                            ("method label", [m.label for m in self.all_methods()])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"duplicate {what} {dup[0]!r}: give each a distinct name/label")
        return self

    @model_validator(mode="after")
    def _known_sources(self) -> ExperimentConfig:
        for name in self.sources:
            if not _LABEL.match(name) or name.startswith("seed"):
                raise ValueError(f"source name '{name}' must be letters, digits and _.+- and not start with 'seed'")
        for name in (self.calibration.sources if self.calibration else []):
            if name not in self.sources:
                raise ValueError(f"calibration: unknown source '{name}' (sources: {', '.join(sorted(self.sources))})")
        if self.video is not None and self.video.seed is not None and self.video.seed not in self.seed_list():
            raise ValueError(f"video: seed {self.video.seed} is not one of the experiment's seeds {self.seed_list()}")
        for m in self.methods:
            if m.source is not None and m.source not in self.sources:
                known = ", ".join(sorted(self.sources)) or "none defined"
                raise ValueError(f"method '{m.label}': unknown source '{m.source}' (sources: {known})")
        return self

    def source_config(self, name: str | None) -> SourceConfig:
        """The main source (``None``) or a named entry of ``sources``."""
        return self.source if name is None else self.sources[name]

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def all_methods(self) -> list[MethodConfig]:
        """The configured methods with ``scratch`` first (added when absent)."""
        methods = list(self.methods)
        if not any(m.label == "scratch" for m in methods):
            methods.insert(0, MethodConfig(method="scratch"))
        return methods

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else Path(self.base_dir) / p


def parse_experiment(raw: Any, *, source: str = "experiment", base_dir: str | Path | None = None) -> ExperimentConfig:
    """Validate a mapping as an :class:`ExperimentConfig`; errors name the key and the file."""
    if not isinstance(raw, dict):
        raise SimtransferError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw)
    if base_dir is not None and not raw.get("base_dir"):
        raw["base_dir"] = str(base_dir)
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, source) from None


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML; relative source-config paths resolve against the repository
    root when they exist there (shipped configs), else against the experiment file's folder."""
    p = Path(path)
    raw = load_yaml(p)
    cfg = parse_experiment(raw, source=str(p), base_dir=p.resolve().parent)
    named = [("source", cfg.source)] + [(f"sources.{n}", s) for n, s in cfg.sources.items()]
    for _key, source in named:
        if not isinstance(source.config, str):
            continue
        src = Path(source.config)
        if not src.is_absolute() and not (p.resolve().parent / src).is_file() and src.is_file():
            cfg.base_dir = str(Path.cwd())
    for key, source in named:
        if isinstance(source.config, str) and not cfg.resolve_path(source.config).is_file():
            raise SimtransferError(f"{p}: {key}.config: file not found: {source.config}")
    return cfg
