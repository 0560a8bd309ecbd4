"""The experiment's optional worst-case stage: one search per cell, recorded, in the report's risk table."""

from __future__ import annotations

import json

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.experiment import parse_experiment
from simtransfer.experiments.fingerprints import fingerprint
from simtransfer.experiments.runner import plan, run_experiment
from simtransfer.experiments.worst_case_stage import risk_markdown, risk_rows
from tests.experiments.test_runner import tiny_experiment


def test_worst_case_per_cell_reaches_the_report(tmp_path):
    exp = tiny_experiment(methods=["zeroshot"], worst_case={"budget": 3, "episodes": 1},
                          budget={**tiny_experiment()["budget"], "random_episodes": 0, "final_episodes": 3})
    out = tmp_path / "out"
    summary = run_experiment(parse_experiment(exp), out, log=lambda m: None)
    assert summary.failed == []
    for method in ("scratch", "zeroshot"):
        cell = out / "cells/extrap" / method / "seed0"
        wc = json.loads((cell / "worst_case.json").read_text())
        assert wc["evaluations"] == 3 and wc["ranges"]["motor_gain"] == [0.5, 2.0]   # the target's training ranges
        marker = json.loads((cell / "cell.json").read_text())
        assert marker["worst_case"]["worst_return"] == wc["worst_return"]
    rows = {r["method"]: r for r in risk_rows(out)}
    assert set(rows) == {"scratch", "zeroshot"} and rows["zeroshot"]["n_worst"] == 1
    assert rows["zeroshot"]["cvar_10"]["value"] <= rows["zeroshot"]["mean"]["value"]
    report = (out / "report/report.md").read_text()
    assert "## Risk: CVaR-10% and searched worst case" in report and "| extrap | zeroshot | 1 |" in report
    assert json.loads((out / "report/summary.json").read_text())["risk"][0]["target"] == "extrap"


def test_off_by_default_and_fingerprints_unchanged_without_it(tmp_path):
    plain = parse_experiment(tiny_experiment())
    assert plain.worst_case is None
    with_wc = parse_experiment(tiny_experiment(worst_case={"budget": 2}))
    _, cells = plan(plain, tmp_path)
    cell = next(j for j in cells if j.kind == "cell")
    assert fingerprint(plain, cell) != fingerprint(with_wc, cell)  # asking for it redoes the cells
    assert risk_markdown([]) == []


@pytest.mark.parametrize("wc,needle", [({"budget": 0}, "worst_case.budget"), ({"bogus": 1}, "bogus: unknown key")])
def test_bad_worst_case_config_is_one_line(wc, needle):
    with pytest.raises(SimtransferError, match=needle):
        parse_experiment(tiny_experiment(worst_case=wc))


def test_target_without_physics_is_recorded_as_skipped(tmp_path):
    from simtransfer.experiments.train import train
    from simtransfer.experiments.worst_case_stage import WorstCaseConfig, run_cell_worst_case
    from tests.agents.runs import tiny_config

    run = train(tiny_config("ppo"), tmp_path / "run").run_dir
    out = run_cell_worst_case(WorstCaseConfig(budget=2), run, "CartPole-v1", 0)
    assert out["worst_return"] is None and "no randomizable physics" in out["skipped"]
    assert not (run / "worst_case.json").exists()
