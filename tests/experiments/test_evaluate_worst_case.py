"""`simtransfer evaluate --worst-case / --attack`: one JSON object, CVaR next to the mean, one-line errors."""

from __future__ import annotations

import json

import pytest

from simtransfer.experiments.cli import main
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config

TARGET = "simtransfer/InvertedPendulum-v0"


@pytest.fixture(scope="module")
def pend_run(tmp_path_factory):
    cfg = tiny_config("ppo", env=TARGET, total_timesteps=256, normalize=True, eval={"every": 0, "episodes": 1})
    return train(cfg, tmp_path_factory.mktemp("wcli") / "run").run_dir


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_plain_evaluate_reports_cvar(pend_run, capsys):
    assert main(["evaluate", str(pend_run), "--target", TARGET, "--episodes", "10", "--json"]) == 0
    obj = _json(capsys)
    assert obj["cvar_10"] == min(obj["returns"]) <= obj["mean_return"]


def test_worst_case_json(pend_run, capsys, tmp_path):
    ranges = tmp_path / "ranges.yaml"
    ranges.write_text("motor_gain: [0.5, 2.0]\ngravity: {low: 8.8, high: 10.8}\n")
    assert main(["evaluate", str(pend_run), "--target", TARGET, "--worst-case", "--budget", "8", "--episodes",
                 "2", "--ranges", str(ranges), "--json"]) == 0
    obj = _json(capsys)
    assert obj["evaluations"] == 8 and obj["method"] == "cma" and obj["episodes"] == 2
    assert obj["ranges"] == {"motor_gain": [0.5, 2.0], "gravity": [8.8, 10.8]}
    assert obj["worst_return"] == min(t["return"] for t in obj["trace"])
    assert 0.5 <= obj["worst_params"]["motor_gain"] <= 2.0
    # the default: every parameter within its training range
    assert main(["evaluate", str(pend_run), "--target", TARGET, "--worst-case", "--budget", "3", "--episodes",
                 "1"]) == 0
    err = capsys.readouterr().err
    assert "worst return" in err and "after 3 evaluations" in err and "motor_gain=" in err


def test_attack_json(pend_run, capsys):
    assert main(["evaluate", str(pend_run), "--target", TARGET, "--attack", "pgd", "--epsilon", "0.1",
                 "--attack-steps", "2", "--episodes", "2", "--json"]) == 0
    obj = _json(capsys)
    assert obj["attack"] == "pgd" and obj["epsilon"] == 0.1 and obj["episodes"] == 2 and "cvar_10" in obj


@pytest.mark.parametrize("extra,ranges_text,match", [
    (["--worst-case", "--ranges", "@"], "gravity: [0, 80]\n", "outside the valid physics"),
    (["--worst-case", "--ranges", "@"], "wingspan: [1, 2]\n", "unknown parameter 'wingspan'"),
    (["--worst-case", "--ranges", "nosplit"], None, "neither a split"),
    (["--worst-case", "--budget", "0"], None, "budget must be at least 1"),
    (["--attack", "fgsm", "--epsilon", "0"], None, "epsilon must be > 0"),
    (["--attack", "pgd", "--epsilon", "-0.5"], None, "epsilon must be > 0"),
    (["--attack", "pgd"], None, "--attack needs --epsilon"),
    (["--epsilon", "0.1"], None, "--epsilon belongs to --attack"),
    (["--budget", "5"], None, "--budget and --ranges belong to --worst-case"),
    (["--worst-case", "--attack", "pgd", "--epsilon", "0.1"], None, "pick one"),
])
def test_bad_input_exits_2_with_one_line(pend_run, capsys, tmp_path, extra, ranges_text, match):
    if ranges_text is not None:
        path = tmp_path / "r.yaml"
        path.write_text(ranges_text)
        extra = [str(path) if x == "@" else x for x in extra]
    assert main(["evaluate", str(pend_run), "--target", TARGET, "--episodes", "1", "--json", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simtransfer: error:") and match in err[0]
