"""Per-job input fingerprints for ``simtransfer run``: a finished job is reused only while its inputs match.

A source job depends on its resolved training config (and, for a source the experiment's ``calibration:``
stage trains on the calibrated preset, on the calibration settings: the preset's path never changes); a cell on its source's fingerprint, the target (env,
adapter, budget), the method and its options; a random baseline on the target env and its episodes. The
marker (``job.json`` / ``cell.json``) records the fingerprint, so after an experiment changes only the jobs
whose inputs changed are redone, and jobs no longer planned are removed (the report reflects the current
experiment only).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simtransfer.agents.rundirs import check_clearable, clear_run_dir
from simtransfer.agents.zoo import zoo_files, zoo_spec
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.experiment import ExperimentConfig
from simtransfer.experiments.jobs import Job, method_options, source_config

_UNTRACKED = ("tracking", "progress", "name")  # do not change what a run computes


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def source_inputs(cfg: ExperimentConfig, name: str | None, seed: int) -> dict[str, Any]:
    raw = source_config(cfg, seed, name).model_dump(mode="json")
    inputs = {k: v for k, v in raw.items() if k not in _UNTRACKED}
    zoo = cfg.source_config(name).zoo
    if zoo is not None:  # a shipped source: its weights too (a re-packed zoo redoes what used it)
        inputs["zoo_files"] = zoo_files(zoo_spec(zoo, seed))
    if cfg.calibration is not None and name in cfg.calibration.sources:
        # every setting but the list of calibrated sources decides the preset this source trains on
        inputs["calibration"] = cfg.calibration.model_dump(mode="json", exclude={"sources"})
    return inputs


def fingerprint(cfg: ExperimentConfig, job: Job) -> str:
    """Hash of everything the job's result depends on."""
    if job.kind == "source":
        return _digest(source_inputs(cfg, job.source, job.seed))
    target = next(t for t in cfg.targets if t.name == job.target)
    tgt = target.model_dump(mode="json", exclude={"name", "threshold"})
    if job.kind == "random":
        return _digest({"target": tgt["env"], "episodes": cfg.budget.random_episodes, "seed": job.seed})
    method, options = method_options(cfg, job)
    budget = cfg.budget.model_dump(mode="json", exclude={"random_episodes"})
    return _digest({"source": _digest(source_inputs(cfg, job.source, job.seed)), "target": tgt, "budget": budget,
                    "timesteps": target.timesteps or cfg.budget.timesteps, "method": method.name,
                    "options": options, "seed": job.seed,
                    # set only when asked for, so the fingerprints of experiments without it stay as they were
                    **({"worst_case": cfg.worst_case.model_dump(mode="json")} if cfg.worst_case else {})})


def read_marker(job: Job) -> dict[str, Any] | None:
    try:
        marker = json.loads(job.marker.read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _remove(path: Path, say: Callable[[str], None], why: str) -> None:
    try:
        check_clearable(path)
    except SimtransferError as exc:
        raise SimtransferError(f"cannot remove {why} results in {path}: {exc}") from None
    clear_run_dir(path)
    shutil.rmtree(path, ignore_errors=True)
    say(f"removed {why} results: {path}")


def reset_stale(jobs: list[Job], fingerprints: dict[Job, str], legacy_ok: bool,
                say: Callable[[str], None]) -> None:
    """Clear each job whose marker records other inputs (or none, unless ``legacy_ok``), so it is redone."""
    for job in jobs:
        marker = read_marker(job)
        if marker is None:
            continue
        recorded = marker.get("fingerprint")
        if recorded == fingerprints[job] or (recorded is None and legacy_ok):
            continue
        _remove(Path(job.out_dir), say, "stale")


def prune_unplanned(out: Path, jobs: list[Job], say: Callable[[str], None]) -> None:
    """Remove source and cell directories the current experiment does not plan (a removed method, target,
    seed or named source), then their empty parents."""
    planned = {Path(j.out_dir).resolve() for j in jobs}
    found = [p for pattern in ("sources/seed*", "sources/*/seed*", "cells/*/*/seed*") for p in out.glob(pattern)]
    for path in sorted(p for p in found if p.is_dir()):
        if path.resolve() not in planned and not any(path.resolve() in q.parents for q in planned):
            _remove(path, say, "unplanned")
    for pattern in ("cells/*/*", "cells/*", "sources/*"):
        for d in out.glob(pattern):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
