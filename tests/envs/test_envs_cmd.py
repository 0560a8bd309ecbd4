"""``simtransfer envs``: listing, per-task details, held-out targets, JSON, errors."""

from __future__ import annotations

import json

import pytest

from simtransfer.envs.params import ParameterSpace, make_targets
from simtransfer.envs.registry import TASKS, preset
from simtransfer.experiments.cli import main


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["task"] for e in data["envs"]] == list(TASKS)
    hopper = next(e for e in data["envs"] if e["task"] == "Hopper")
    assert hopper["ids"] == {"train": "simtransfer/Hopper-v0", "nominal": "simtransfer/HopperNominal-v0",
                             "interp": "simtransfer/HopperInterp-v0", "extrap": "simtransfer/HopperExtrap-v0"}
    mass = next(p for p in hopper["params"] if p["name"] == "mass")
    assert (mass["nominal"], mass["low"], mass["high"], mass["mode"]) == (1.0, 0.8, 1.2, "relative")


def test_list_table_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "InvertedPendulum" in out.err and "motor_gain" in out.err


def test_task_details_with_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "simtransfer/InvertedPendulumExtrap-v0", "--targets", "--split-seed", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    space = ParameterSpace.from_mapping(preset("InvertedPendulum")["params"])
    assert data["task"] == "InvertedPendulum" and data["split_seed"] == 3
    assert data["targets"]["extrap"] == make_targets(space, "extrap", 3, 10)
    assert main(["envs", "Reacher", "--targets"]) == 0
    assert "extrap targets" in capsys.readouterr().err


def test_unknown_task_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "Pong"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simtransfer: error: unknown task 'Pong'") and err.count("\n") == 1
