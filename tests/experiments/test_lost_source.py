"""The report and the leaderboard flag a trained method that ends below its zero-shot start ("lost what the
source had"), on a synthetic results directory with hand-computable numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simtransfer.experiments.leaderboard import leaderboard, verdict_markdown
from simtransfer.experiments.report import build_report, load_results

GRID = [0, 10, 20, 30]
TARGET = "simtransfer/CartPoleExtrap-v0"
OFFSETS = (-5.0, 0.0, 5.0, 2.0, -2.0)
BASE = {"scratch": [0, 20, 40, 60],   # from nothing: never "lost" anything
        "finetune": [100, 70, 50, 40],  # starts where the source was, ends far below it on every seed
        "freeze": [100, 100, 105, 110],  # keeps (and improves on) the source
        "l2sp": [100, 60, 100, 100]}    # dips, then recovers: ends at its start, not flagged


def make_results(root: Path, methods: dict[str, list[float]] = BASE) -> Path:
    for seed, off in enumerate(OFFSETS):
        for method, base in methods.items():
            curve = [b + off for b in base]
            d = root / "cells" / "extrap" / method / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "eval.json").write_text(json.dumps({
                "curves": {TARGET: {"timesteps": GRID, "mean_return": curve}},
                "final": {TARGET: {"episodes": 5, "mean_return": curve[-1]}}}))
            (d / "cell.json").write_text(json.dumps({"target": TARGET, "method": method, "seed": seed,
                                                     "status": "done"}))
        d = root / "cells" / "extrap" / "zeroshot" / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "eval.json").write_text(json.dumps({"final": {TARGET: {"episodes": 5, "mean_return": 100.0 + off}}}))
        (d / "cell.json").write_text(json.dumps({"target": TARGET, "method": "zeroshot", "seed": seed,
                                                 "status": "done"}))
    (root / "experiment.yaml").write_text("name: lost-source-synthetic\n")
    return root


def test_report_flags_a_method_that_ends_below_zero_shot(tmp_path):
    root = make_results(tmp_path / "results")
    report = build_report(root, reps=300, plots=False)
    by = {s.method: s for s in report.summaries}
    assert by["finetune"].lost_source
    assert by["finetune"].vs_zero_shot.value == pytest.approx(-60.0) and by["finetune"].below_zero_shot == 5
    assert not by["freeze"].lost_source and by["freeze"].vs_zero_shot.value == pytest.approx(10.0)
    assert not by["l2sp"].lost_source and by["l2sp"].below_zero_shot == 0
    assert by["scratch"].vs_zero_shot is None and not by["scratch"].lost_source
    assert by["zeroshot"].vs_zero_shot is None

    data = json.loads((root / "report" / "summary.json").read_text())
    flags = {s["method"]: s["lost_source"] for s in data["summaries"]}
    assert flags == {"scratch": False, "zeroshot": False, "finetune": True, "freeze": False, "l2sp": False}
    md = (root / "report" / "report.md").read_text()
    section = md.split("## Lost what the source had")[1].split("\n## ")[0]
    assert "`finetune` on" in section and "`freeze`" not in section and "`l2sp`" not in section
    csv_text = (root / "report" / "summary.csv").read_text()
    assert "lost_source" in csv_text.splitlines()[0]


def test_leaderboard_names_the_methods_that_lost_the_source(tmp_path):
    verdicts = leaderboard(load_results(make_results(tmp_path / "results")), reps=300)
    (v,) = verdicts
    assert list(v.lost_source) == ["finetune"]
    assert v.lost_source["finetune"].high < 0
    table = verdict_markdown(verdicts, lost_source=True)
    assert "lost what the source had" in table[0] and "finetune (" in table[2]
    assert "lost what the source had" not in verdict_markdown(verdicts)[0]  # the published suite's table


def test_nothing_flagged_when_every_method_keeps_the_source(tmp_path):
    root = tmp_path / "results"
    report = build_report(make_results(root, {k: v for k, v in BASE.items() if k != "finetune"}), reps=300,
                          plots=False)
    assert not any(s.lost_source for s in report.summaries)
    assert "None detected" in (root / "report" / "report.md").read_text().split("## Lost what the source had")[1]


def test_the_zeroshot_cell_of_the_same_seed_is_the_reference_not_a_noisy_t0(tmp_path):
    """A t=0 evaluation on fewer episodes can read higher than the source really is; the ``zeroshot`` cell
    (evaluated like the final return) is the reference when the experiment has one."""
    root = make_results(tmp_path / "results", {"scratch": BASE["scratch"], "finetune": [100, 70, 50, 40]})
    for seed, off in enumerate(OFFSETS):  # the source really scores 40 (+off): finetune kept it
        (root / "cells" / "extrap" / "zeroshot" / f"seed{seed}" / "eval.json").write_text(json.dumps(
            {"final": {TARGET: {"episodes": 5, "mean_return": 40.0 + off}}}))
    report = build_report(root, reps=300, plots=False)
    ft = next(s for s in report.summaries if s.method == "finetune")
    assert ft.vs_zero_shot.value == pytest.approx(0.0) and not ft.lost_source and ft.below_zero_shot == 0
    (v,) = leaderboard(load_results(root), reps=300)
    assert not v.lost_source
