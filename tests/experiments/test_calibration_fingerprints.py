"""Calibration settings are inputs of the sources trained on the calibrated preset (experiments/fingerprints.py):
changing one redoes those sources and their cells; unchanged settings (and uncalibrated sources) are reused."""

from __future__ import annotations

import json

import pytest

from simtransfer.experiments.experiment import parse_experiment
from simtransfer.experiments.fingerprints import fingerprint
from simtransfer.experiments.jobs import plan
from simtransfer.experiments.runner import run_experiment
from tests.experiments.test_calibration_loop import loop_experiment


def fingerprints(exp: dict, tmp_path) -> dict[tuple, str]:
    cfg = parse_experiment(exp)
    sources, cells = plan(cfg, tmp_path)
    return {(j.kind, j.source, j.method): fingerprint(cfg, j) for j in sources + cells}


@pytest.mark.parametrize("key,value", [("budget", 13), ("episodes", 5), ("seed", 1), ("max_delay", 3),
                                       ("params", ["motor_gain"]), ("policy", "scripted"),
                                       ("target", "simtransfer/InvertedPendulumExtrap-v0")])
def test_a_changed_calibration_setting_changes_the_calibrated_source_and_its_cells_only(tmp_path, key, value):
    before = fingerprints(loop_experiment(), tmp_path)
    exp = loop_experiment()
    exp["calibration"][key] = value
    after = fingerprints(exp, tmp_path)
    changed = {k for k in before if before[k] != after[k]}
    assert ("source", "calibrated", None) in changed
    assert ("cell", "calibrated", "calibrated") in changed           # the cell built on the calibrated source
    assert ("source", None, None) not in changed                      # the main source is not calibrated
    assert not any(k[0] == "cell" and k[2] == "scratch" for k in changed)


def test_unchanged_calibration_settings_keep_every_fingerprint(tmp_path):
    assert fingerprints(loop_experiment(), tmp_path) == fingerprints(loop_experiment(), tmp_path)


def test_a_rerun_with_another_calibration_budget_retrains_the_calibrated_source_and_reuses_the_rest(tmp_path):
    out, logs = tmp_path / "out", []
    run_experiment(parse_experiment(loop_experiment()), out, report=False, log=logs.append)
    calibrated, main = out / "sources" / "calibrated" / "seed0", out / "sources" / "seed0"
    marks = {p: json.loads((p / "job.json").read_text())["fingerprint"] for p in (calibrated, main)}
    stamps = {p: (p / "policy.safetensors").stat().st_mtime_ns for p in (calibrated, main)}
    exp = loop_experiment()
    exp["calibration"]["budget"] = 13
    logs.clear()
    run_experiment(parse_experiment(exp), out, force=True, report=False, log=logs.append)
    assert any("collecting and calibrating again" in m for m in logs)
    assert any(f"removed stale results: {calibrated}" in m for m in logs)
    assert json.loads((calibrated / "job.json").read_text())["fingerprint"] != marks[calibrated]
    assert (calibrated / "policy.safetensors").stat().st_mtime_ns != stamps[calibrated]
    assert json.loads((main / "job.json").read_text())["fingerprint"] == marks[main]
    assert (main / "policy.safetensors").stat().st_mtime_ns == stamps[main]      # reused, not retrained
