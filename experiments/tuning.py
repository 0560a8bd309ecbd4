"""Tune a transfer method's options on an experiment with Optuna: the objective is the runner's own metric.

Each trial is one labelled variant of ``--method`` (options from the sampled parameters) added to the experiment
and run by :func:`~simtransfer.experiments.runner.run_experiment` into ``OUT/runs`` — so the sources, the scratch
baseline and every finished cell are trained once and shared by all trials — and scored by the report's IQM of
``metric`` (default ``asymptotic``: the final return) on one target. Optuna's TPE sampler (seeded) proposes the
options; trials live in a journal file ``OUT/optuna.journal`` (JSON lines: data, never code) and ``OUT/tune.json``
summarises them. Re-running the same command continues: finished trials are kept, an interrupted one is re-run
(its finished cells are reused, since a trial's label is a hash of its options).

>>> spec = parse_param("learning_rate=1e-5:1e-3:log")
>>> spec.name, spec.low, spec.high, spec.log
('learning_rate', 1e-05, 0.001, True)
>>> parse_param("alpha=0.1,1,10").choices
[0.1, 1, 10]
>>> trial_label({"learning_rate": 0.0003})
'tune-7b8ff535'
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.experiment import ExperimentConfig, load_experiment
from simtransfer.experiments.report import METRICS, build_report
from simtransfer.experiments.runner import run_experiment
from simtransfer.transfer.methods import get_method

ALIASES = {"lr": "learning_rate"}
STUDY = "tune"


@dataclass(frozen=True)
class ParamSpec:
    """One searched option: a float/int range (``low:high[:log|:int]``) or a list of choices (``a,b,c``)."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] = field(default_factory=list)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, self.choices)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SimtransferError(f"--param {spec!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SimtransferError(f"--param {spec!r}: {text!r} is not a finite number")
    return value


def _choice(text: str) -> Any:
    value = yaml.safe_load(text)
    return value if isinstance(value, (bool, int, float, str)) and value is not None else text


def parse_param(spec: str) -> ParamSpec:
    """``NAME=LOW:HIGH[:log][:int]`` or ``NAME=A,B,C``; a malformed or empty range is a one-line error."""
    name, sep, rest = spec.partition("=")
    name = ALIASES.get(name.strip(), name.strip())
    if not sep or not name or not rest.strip():
        raise SimtransferError(f"--param {spec!r}: expected NAME=LOW:HIGH[:log|:int] or NAME=A,B,C")
    if "," in rest:
        choices = [_choice(c.strip()) for c in rest.split(",") if c.strip()]
        if len(choices) < 2 or len(set(map(str, choices))) != len(choices):
            raise SimtransferError(f"--param {spec!r}: give at least two distinct choices")
        return ParamSpec(name, choices=choices)
    parts = rest.split(":")
    flags = [p.strip() for p in parts[2:]]
    if len(parts) < 2 or any(f not in ("log", "int") for f in flags):
        raise SimtransferError(f"--param {spec!r}: expected NAME=LOW:HIGH, optionally :log and/or :int")
    low, high = _number(parts[0].strip(), spec), _number(parts[1].strip(), spec)
    log, integer = "log" in flags, "int" in flags
    if not low < high:
        raise SimtransferError(f"--param {spec!r}: empty range, LOW must be below HIGH")
    if log and low <= 0:
        raise SimtransferError(f"--param {spec!r}: a log range needs LOW > 0")
    if integer and (low != int(low) or high != int(high)):
        raise SimtransferError(f"--param {spec!r}: an :int range needs whole numbers")
    return ParamSpec(name, low, high, log, integer)


def trial_label(options: dict[str, Any]) -> str:
    """The method label (and folder) of a trial: a hash of its options, so a re-run trial reuses its cells."""
    return "tune-" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]


def check_params(method: str, params: list[ParamSpec]) -> None:
    """Every searched name must be an option of ``method`` (one-line error listing them otherwise)."""
    known = set(get_method(method).Options.model_fields)
    names = [p.name for p in params]
    if not params:
        raise SimtransferError("tune needs at least one --param NAME=LOW:HIGH")
    if len(set(names)) != len(names):
        raise SimtransferError(f"--param names must be distinct, got {', '.join(names)}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SimtransferError(f"method {method!r} has no option {unknown[0]!r} (options: {', '.join(sorted(known))})")


def trial_experiment(cfg: ExperimentConfig, method: str, labels: dict[str, dict[str, Any]], base: dict[str, Any],
                     target: str) -> ExperimentConfig:
    """``cfg`` with only ``target`` and methods = one labelled variant of ``method`` per trial so far."""
    raw = cfg.model_dump(mode="json")
    raw["targets"] = [t for t in raw["targets"] if t["name"] == target]
    raw["methods"] = [{"method": method, "label": label, "options": {**base, **opts}}
                      for label, opts in labels.items()]
    return ExperimentConfig.model_validate(raw)


@dataclass
class Tuner:
    """State of one tuning study (see the module docstring)."""

    experiment: ExperimentConfig
    method: str
    params: list[ParamSpec]
    out: Path
    target: str
    metric: str = "asymptotic"
    seed: int = 0
    workers: int = 1
    base_options: dict[str, Any] = field(default_factory=dict)

    def study(self) -> optuna.Study:
        storage = JournalStorage(JournalFileBackend(str(self.out / "optuna.journal")))
        return optuna.create_study(study_name=STUDY, storage=storage, direction="maximize", load_if_exists=True,
                                   sampler=optuna.samplers.TPESampler(seed=self.seed))

    def labels(self, study: optuna.Study) -> dict[str, dict[str, Any]]:
        """Label -> options of every trial with options (finished, running or re-queued)."""
        return {trial_label(t.params): dict(t.params) for t in study.trials if t.params}

    def score(self, study: optuna.Study, options: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        labels = {**self.labels(study), trial_label(options): options}
        cfg = trial_experiment(self.experiment, self.method, labels, self.base_options, self.target)
        summary = run_experiment(cfg, self.out / "runs", workers=self.workers, force=True, report=False,
                                 log=lambda msg: None)
        if summary.failed:
            raise SimtransferError(f"tune: jobs failed in {self.out / 'runs'}: {', '.join(summary.failed)[:300]}")
        report = build_report(self.out / "runs", plots=False)
        row = next((s for s in report.summaries if s.target == self.target and s.method == trial_label(options)),
                   None)
        est = getattr(row, self.metric, None) if row else None
        if est is None or not math.isfinite(est.value):
            raise SimtransferError(f"tune: the report has no {self.metric} for {trial_label(options)} on "
                                   f"{self.target}")
        finite = {k: (v if math.isfinite(v) else None) for k, v in (("low", est.low), ("high", est.high))}
        return float(est.value), {**finite, "n": est.n}

    def run(self, trials: int) -> dict[str, Any]:
        """Run until ``trials`` trials are complete; returns (and writes ``OUT/tune.json``) the summary."""
        self.out.mkdir(parents=True, exist_ok=True)
        study = self.study()
        for t in study.trials:  # interrupted earlier: run the same options again, reusing their finished cells
            if t.state == optuna.trial.TrialState.RUNNING:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                study.enqueue_trial(t.params, skip_if_exists=True)
        while sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) < trials:
            trial = study.ask()
            options = {p.name: p.suggest(trial) for p in self.params}
            value, interval = self.score(study, options)
            trial.set_user_attr("label", trial_label(options))
            trial.set_user_attr("interval", interval)
            study.tell(trial, value)
            self.write_summary(study)
        return self.write_summary(study)

    def write_summary(self, study: optuna.Study) -> dict[str, Any]:
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = max(done, key=lambda t: t.value) if done else None
        summary = {
            "experiment": self.experiment.name, "method": self.method, "target": self.target, "metric": self.metric,
            "sampler": "TPE", "seed": self.seed, "seeds": self.experiment.seed_list(),
            "budget_timesteps": self.experiment.budget.timesteps, "base_options": self.base_options,
            "params": [p.__dict__ for p in self.params],
            "trials": [{"number": t.number, "options": t.params, "value": t.value, "label": t.user_attrs.get("label"),
                        "interval": t.user_attrs.get("interval")} for t in done],
            "best": None if best is None else {"number": best.number, "options": best.params, "value": best.value,
                                               "interval": best.user_attrs.get("interval")},
        }
        (self.out / "tune.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return summary


def tune(experiment: str | Path | ExperimentConfig, method: str, params: list[str], out: str | Path, *,
         trials: int, target: str | None = None, metric: str = "asymptotic", seed: int = 0, seeds: int | None = None,
         workers: int = 1, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Tune ``method``'s options over ``params`` (``NAME=LOW:HIGH[:log]``) on one target of ``experiment``."""
    cfg = experiment if isinstance(experiment, ExperimentConfig) else load_experiment(experiment)
    if trials < 1:
        raise SimtransferError(f"--trials must be ≥ 1, got {trials}")
    if metric not in METRICS:
        raise SimtransferError(f"unknown metric {metric!r} (metrics: {', '.join(METRICS)})")
    specs = [parse_param(p) for p in params]
    check_params(method, specs)
    names = [t.name for t in cfg.targets]
    if target is None and len(names) != 1:
        raise SimtransferError(f"{cfg.name} has several targets: choose one with --target ({', '.join(names)})")
    target = target or names[0]
    if target not in names:
        raise SimtransferError(f"unknown target {target!r} (targets: {', '.join(names)})")
    if seeds is not None:
        cfg = cfg.model_copy(update={"seeds": seeds})
    get_method(method).parse_options({**(options or {})})  # bad fixed options fail before any training
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return Tuner(cfg, method, specs, Path(out), target, metric, seed, workers, dict(options or {})).run(trials)
