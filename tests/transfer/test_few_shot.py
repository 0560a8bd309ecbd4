"""Few-shot adaptation: return after k target episodes for zero-shot, fine-tuning and RL² (transfer/metrics.py),
and its section in the experiment report (experiments/few_shot.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.few_shot import episode_steps, few_shot, few_shot_rows
from simtransfer.experiments.report import build_report, load_results
from simtransfer.transfer.metrics import Curve, few_shot_from_adaptation, few_shot_from_curve, few_shot_return
from tests.experiments.test_report import INTERP, make_results

CURVE = Curve([0, 1000, 2000, 3000], [10.0, 40.0, 70.0, 100.0])


def test_fine_tuning_reads_its_curve_at_k_episodes_worth_of_steps() -> None:
    assert few_shot_from_curve(CURVE, 1, 500) == pytest.approx(25.0)
    assert few_shot_from_curve(CURVE, 4, 500) == pytest.approx(70.0)
    assert few_shot_from_curve(CURVE, 6, 500) == pytest.approx(100.0)  # exactly the budget


def test_k_beyond_the_target_budget_is_a_one_line_error() -> None:
    with pytest.raises(SimtransferError, match="beyond the target budget of 3000 steps") as exc:
        few_shot_from_curve(CURVE, 7, 500)
    assert "\n" not in str(exc.value)
    with pytest.raises(SimtransferError, match="beyond the trial's 3 episodes"):
        few_shot_from_adaptation([1.0, 2.0, 3.0], 4)


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_k_must_be_a_whole_number_of_episodes(k) -> None:
    with pytest.raises(SimtransferError, match="whole number of episodes >= 1"):
        few_shot_return(k, zero_shot=1.0)


def test_one_axis_for_every_method() -> None:
    assert [few_shot_return(k, zero_shot=55.0) for k in (1, 2, 3)] == [55.0] * 3  # constant
    assert [few_shot_return(k, per_episode=[10.0, 30.0, 50.0]) for k in (1, 2, 3)] == [10.0, 30.0, 50.0]
    assert few_shot_return(2, curve=CURVE, episode_steps=1000) == pytest.approx(70.0)
    with pytest.raises(SimtransferError, match="exactly one"):
        few_shot_return(1, zero_shot=1.0, per_episode=[1.0])
    with pytest.raises(SimtransferError, match="episode_steps > 0"):
        few_shot_return(1, curve=CURVE)


def _with_lengths(root: Path, length: int) -> None:
    for path in (root / "cells").glob("*/*/*/eval.json"):
        ev = json.loads(path.read_text())
        for final in ev.get("final", {}).values():
            final["lengths"] = [length] * 5
        path.write_text(json.dumps(ev))


def test_report_few_shot_section(tmp_path: Path) -> None:
    root = make_results(tmp_path / "results")
    _with_lengths(root, 5)  # the synthetic curves evaluate at 0, 10, ..., 40 steps: 2 episodes per point
    results = load_results(root)
    assert episode_steps(results, INTERP) == 5.0
    # finetune's curve [40, 60, 80, ...] (IQM over 3 seeds = the base): k=2 episodes = 10 steps -> 60
    assert few_shot(results, INTERP, "finetune", 2, steps=5.0).value == pytest.approx(60.0)
    assert few_shot(results, INTERP, "zeroshot", 8, steps=5.0).value == pytest.approx(40.0)  # constant in k
    rows = {(r["target"], r["method"]): r for r in few_shot_rows(results, (1, 3, 10))}
    assert rows[(INTERP, "scratch")]["few_shot"][10] is None  # 50 steps > the 40-step budget
    assert rows[(INTERP, "zeroshot")]["few_shot"][10].value == pytest.approx(40.0)
    report = build_report(root, plots=False, reps=200)
    md = report.files["markdown"].read_text()
    assert "## Few-shot adaptation" in md and "> budget" in md
    summary = json.loads(report.files["json"].read_text())
    finetune = [r for r in summary["few_shot"] if r["target"] == INTERP and r["method"] == "finetune"][0]
    assert finetune["few_shot"]["1"]["value"] == pytest.approx(50.0) and finetune["few_shot"]["10"] is None
