"""The calibration loop through the runner: collect -> calibrate -> a source trained on the calibrated preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simtransfer.agents.config import load_train_config
from simtransfer.experiments.experiment import parse_experiment
from simtransfer.experiments.runner import run_experiment

REPO = Path(__file__).resolve().parents[2]
SET = ["eval.every=0", "eval.episodes=1", "eval.targets=[]", "checkpoint_every=0", "n_envs=1",
       "hyperparams.n_steps=64", "hyperparams.batch_size=64", "hyperparams.n_epochs=1"]


def loop_experiment() -> dict:
    src = {"config": str(REPO / "experiments/configs/inverted_pendulum.yaml"), "timesteps": 64, "set": SET}
    return {
        "name": "loop",
        "calibration": {"target": "simtransfer/InvertedPendulumReal-v0", "sim": "simtransfer/InvertedPendulum-v0",
                        "policy": "random", "episodes": 6, "params": ["motor_gain", "action_latency"],
                        "budget": 12, "max_windows": 20, "max_delay": 2, "sources": ["calibrated"]},
        "source": src, "sources": {"calibrated": src},
        "targets": [{"name": "real", "env": "simtransfer/InvertedPendulumReal-v0"}],
        "methods": [{"method": "zeroshot", "label": "calibrated", "source": "calibrated"}],
        "seeds": 1, "tracking": "disabled",
        "budget": {"timesteps": 64, "eval_every": 64, "eval_episodes": 1, "final_episodes": 1, "random_episodes": 0},
    }


def test_the_calibrated_source_trains_on_the_calibrated_preset_and_a_rerun_skips_calibration(tmp_path):
    out = tmp_path / "out"
    run_experiment(parse_experiment(loop_experiment()), out, report=False, log=lambda m: None)
    fit = json.loads((out / "calibration" / "fit" / "calibration.json").read_text())
    assert {e["name"] for e in fit["estimates"]} == {"motor_gain", "action_latency"}
    cfg = load_train_config(out / "sources" / "calibrated" / "seed0" / "config.yaml", use_defaults=False)
    assert cfg.env.kwargs["randomization"] == str(out / "calibration" / "fit" / "preset.yaml")
    main_cfg = load_train_config(out / "sources" / "seed0" / "config.yaml", use_defaults=False)
    assert "randomization" not in main_cfg.env.kwargs
    preset = yaml.safe_load((out / "calibration" / "fit" / "preset.yaml").read_text())
    assert preset["params"]["action_latency"]["choices"] == [int(fit["estimates"][1]["value"])]
    stamp = (out / "calibration" / "fit" / "calibration.json").stat().st_mtime_ns
    run_experiment(parse_experiment(loop_experiment()), out, report=False, log=lambda m: None)
    assert (out / "calibration" / "fit" / "calibration.json").stat().st_mtime_ns == stamp


def test_calibration_must_name_a_defined_source():
    exp = loop_experiment()
    exp["calibration"]["sources"] = ["nope"]
    with pytest.raises(Exception, match="calibration: unknown source 'nope'"):
        parse_experiment(exp)


def test_the_shipped_loop_experiment_loads_and_plans(tmp_path):
    from simtransfer.experiments.experiment import load_experiment
    from simtransfer.experiments.jobs import plan

    cfg = load_experiment(REPO / "experiments/configs/calibration_inverted_pendulum.yaml")
    assert cfg.calibration is not None and cfg.calibration.sources == ["calibrated"]
    sources, cells = plan(cfg, tmp_path)
    assert {j.source for j in sources} == {None, "dr", "calibrated"}
    assert {j.method for j in cells if j.kind == "cell"} == {"scratch", "nominal", "dr", "calibrated"}
