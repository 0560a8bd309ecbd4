"""The calibration stage of an experiment: collect on the target, calibrate the simulator, once per experiment.

Writes ``OUT/calibration/data`` (the log), ``OUT/calibration/fit`` (``preset.yaml``, ``calibration.json``/``.md``,
``calibration.png``) and ``OUT/calibration/job.json`` when finished; a re-run skips it. The sources named in
``calibration.sources`` train with ``env.kwargs.randomization`` set to the calibrated preset.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from simtransfer.agents.collect import collect
from simtransfer.agents.config import TrainConfig, update_config
from simtransfer.experiments.experiment import ExperimentConfig
from simtransfer.experiments.jobs import DONE
from simtransfer.transfer.calibration import calibrate


def stage_dir(out: Path) -> Path:
    return out / "calibration"


def preset_path(out: Path) -> Path:
    return stage_dir(out) / "fit" / "preset.yaml"


def run_calibration(cfg: ExperimentConfig, out: Path, say) -> dict[str, Any] | None:
    """Collect + calibrate unless done; returns the calibration report (None without a calibration stage)."""
    c = cfg.calibration
    if c is None:
        return None
    d = stage_dir(out)
    marker = d / "job.json"
    settings = c.model_dump(mode="json")
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("status") == DONE and done.get("settings") == settings:
            return json.loads((d / "fit" / "calibration.json").read_text())
        say("calibration: settings changed, collecting and calibrating again")
    for part in ("data", "fit"):  # unfinished or stale: this stage's own outputs only
        shutil.rmtree(d / part, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    policy = str(cfg.resolve_path(c.policy)) if c.policy not in ("random", "scripted") else c.policy
    data = collect(policy, c.target, d / "data", episodes=c.episodes, seed=c.seed)
    say(f"calibration: logged {len(data.episodes)} episodes ({data.total_steps} steps) on {c.target}")
    report = calibrate(d / "data", c.sim, d / "fit", params=c.params, budget=c.budget, seed=c.seed,
                       max_windows=c.max_windows, max_delay=c.max_delay)
    say("calibration: " + ", ".join(f"{e['name']}={e['value']:.3g}" + ("" if e["identified"] else " (not identified)")
                                    for e in report["estimates"]) + f" in {report['seconds']:.0f} s")
    marker.write_text(json.dumps({"status": DONE, "settings": settings}))
    return report


def calibrated_config(cfg: ExperimentConfig, config: TrainConfig, source: str | None, out: Path) -> TrainConfig:
    """``config`` with the calibrated preset as its randomization if ``source`` is one of the calibrated ones."""
    if cfg.calibration is None or source not in cfg.calibration.sources:
        return config
    return update_config(config, {"env.id": cfg.calibration.sim,
                                  "env.kwargs": {**config.env.kwargs, "randomization": str(preset_path(out))}})
