"""``simtransfer report`` on a synthetic results directory with hand-computable numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.report import build_report, load_results, log_report_to_wandb

GRID = [0, 10, 20, 30, 40]
OFFSETS = (-5.0, 0.0, 5.0)  # per seed; with 3 seeds the IQM is the plain mean, i.e. the base curve
INTERP, EXTRAP = "simtransfer/CartPoleInterp-v0", "simtransfer/CartPoleExtrap-v0"
BASE = {"scratch": [0, 20, 40, 60, 80], "finetune": [40, 60, 80, 80, 80], "freeze": [0, 5, 10, 15, 20]}


def _cell(root: Path, target: str, method: str, seed: int, *, curve=None, final=None, threshold=None,
          status="done", key=None) -> Path:
    d = root / "cells" / target.split("/")[-1] / method / f"seed{seed}"
    d.mkdir(parents=True)
    key = key or target
    ev = {}
    if curve is not None:
        ev["curves"] = {key: {"timesteps": GRID, "mean_return": list(curve), "std_return": [1.0] * len(curve)}}
    if final is not None:
        ev["final"] = {key: {"episodes": 5, "mean_return": final, "std_return": 1.0, "returns": [final] * 5}}
    (d / "eval.json").write_text(json.dumps(ev))
    cell = {"target": target, "method": method, "seed": seed, "status": status}
    if threshold is not None:
        cell["threshold"] = threshold
    (d / "cell.json").write_text(json.dumps(cell))
    return d


def make_results(root: Path) -> Path:
    """Interp: random cells (reference 0), threshold 60. Extrap: every return +100, no random cells."""
    for target, shift, threshold in ((INTERP, 0.0, 60.0), (EXTRAP, 100.0, None)):
        for seed, off in enumerate(OFFSETS):
            for method, base in BASE.items():
                curve = [b + off + shift for b in base]
                _cell(root, target, method, seed, curve=curve, final=curve[-1], threshold=threshold)
            _cell(root, target, "zeroshot", seed, final=40.0 + off + shift)
            if shift == 0.0:
                _cell(root, target, "random", seed, final=off / 5)
    src = root / "sources" / "seed0"
    src.mkdir(parents=True)
    (src / "eval.json").write_text(json.dumps({"final": {"train": {"episodes": 5, "mean_return": 480.0}}}))
    (root / "experiment.yaml").write_text("name: cartpole-synthetic\n")
    return root


@pytest.fixture
def results(tmp_path) -> Path:
    return make_results(tmp_path / "results")


def test_report_files_and_numbers(results):
    report = build_report(results, reps=300)
    out = results / "report"
    for name in ("report.md", "summary.csv", "summary.json", "transfer_ratios.png", "zeroshot_heatmap.png",
                 "curves_simtransfer_CartPoleInterp-v0.png", "curves_simtransfer_CartPoleExtrap-v0.png"):
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 10_000

    data = json.loads((out / "summary.json").read_text())
    assert data["experiment"] == "cartpole-synthetic" and data["sources"] == {"0": 480.0}
    by = {(s["target"], s["method"]): s for s in data["summaries"]}
    assert len(by) == 8
    for target in (INTERP, EXTRAP):
        ft, fr, zs = by[(target, "finetune")], by[(target, "freeze")], by[(target, "zeroshot")]
        assert ft["jumpstart"]["value"] == pytest.approx(40.0)
        assert ft["asymptotic_gain"]["value"] == pytest.approx(20.0)         # last 3: 80 vs 60
        assert ft["transfer_ratio"]["value"] == pytest.approx(70.0 / 40.0)  # shift-invariant (+100 on Extrap)
        assert fr["transfer_ratio"]["value"] == pytest.approx(10.0 / 40.0)
        assert fr["negative_transfer"] and fr["negative_reasons"] == ["transfer_ratio"]
        assert not ft["negative_transfer"] and ft["transfer_ratio"]["low"] > 1.0
        assert zs["relatedness"]["value"] == pytest.approx(0.5) and zs["transfer_ratio"] is None
    assert by[(INTERP, "scratch")]["reference_source"] == "random policy"
    assert by[(EXTRAP, "scratch")]["reference_source"] == "scratch at t=0"
    assert by[(EXTRAP, "scratch")]["reference"] == pytest.approx(100.0)
    assert by[(INTERP, "finetune")]["threshold"] == 60.0
    assert by[(INTERP, "finetune")]["time_to_threshold_ratio"]["value"] == pytest.approx(2.5)
    assert by[(INTERP, "freeze")]["time_to_threshold"]["value"] == "inf"      # never reaches 60
    assert by[(INTERP, "freeze")]["time_to_threshold_ratio"]["value"] == 0.0
    assert by[(EXTRAP, "scratch")]["threshold"] == pytest.approx(100.0 + 0.8 * 80.0)

    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 8
    row = next(r for r in rows if r["target"] == INTERP and r["method"] == "finetune")
    assert float(row["transfer_ratio"]) == pytest.approx(1.75) and row["negative_transfer"] == "False"

    md = (out / "report.md").read_text()
    assert "# Transfer report: cartpole-synthetic" in md
    assert "`freeze` on `simtransfer/CartPoleInterp-v0`" in md and "![Transfer ratios](transfer_ratios.png)" in md
    assert "| finetune | 1.75 [" in md
    assert report.files["markdown"] == out / "report.md"


def test_cli_report_table_and_json(results, capsys):
    assert main(["report", str(results), "--reps", "200"]) == 0
    err = capsys.readouterr().err
    assert "AUC ratio" in err and "finetune" in err and "report written to" in err
    assert main(["report", str(results), "--reps", "200", "--json", "--no-plots"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert {s["method"] for s in payload["summaries"]} == {"scratch", "zeroshot", "finetune", "freeze"}


def test_skips_unfinished_cells_and_falls_back_to_the_first_curve(tmp_path):
    root = tmp_path / "r"
    for seed, off in enumerate(OFFSETS):
        _cell(root, INTERP, "scratch", seed, curve=[b + off for b in BASE["scratch"]], key="train")
    _cell(root, INTERP, "finetune", 0, curve=BASE["finetune"], final=80.0)
    _cell(root, INTERP, "finetune", 1, status="running")
    (_cell(root, INTERP, "finetune", 2, curve=BASE["finetune"]) / "cell.json").unlink()  # name from siblings
    res = load_results(root)
    assert list(res.targets) == [INTERP]
    assert [r.seed for r in res.targets[INTERP].methods["finetune"]] == [0, 2]
    assert res.skipped == ["cells/CartPoleInterp-v0/finetune/seed1 (status: running)"]
    assert res.targets[INTERP].methods["scratch"][0].curve.mean_return[1] == 15.0
    report = build_report(root, reps=100, plots=False)
    assert "## Left out" in report.files["markdown"].read_text()
    assert not (root / "report" / "transfer_ratios.png").exists()


@pytest.mark.parametrize("setup,message", [
    (lambda root: None, "results directory not found"),
    (lambda root: root.mkdir(), "no cells"),
    (lambda root: (root / "cells").mkdir(parents=True), "no finished cells"),
    (lambda root: (_cell(root, INTERP, "scratch", 0, curve=BASE["scratch"]) / "eval.json").write_text("{oops"),
     "malformed JSON"),
    (lambda root: (_cell(root, INTERP, "scratch", 0, curve=BASE["scratch"]) / "eval.json").write_text(
        json.dumps({"curves": {INTERP: {"timesteps": [0, 1], "mean_return": [1.0]}}})), "malformed eval.json"),
    (lambda root: (_cell(root, INTERP, "scratch", 0, curve=BASE["scratch"]) / "eval.json").unlink(),
     "marked done but has no eval.json"),
    (lambda root: _cell(root, INTERP, "finetune", 0, curve=BASE["finetune"]), "no target .* scratch baseline"),
])
def test_errors_are_one_line(tmp_path, capsys, setup, message):
    root = tmp_path / "r"
    setup(root)
    with pytest.raises(SimtransferError, match=message):
        build_report(root, reps=50, plots=False)
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simtransfer: error:") and "\n" not in err


def test_disagreeing_thresholds_are_an_error(tmp_path):
    root = tmp_path / "r"
    _cell(root, INTERP, "scratch", 0, curve=BASE["scratch"], threshold=50.0)
    _cell(root, INTERP, "finetune", 0, curve=BASE["finetune"], threshold=60.0)
    with pytest.raises(SimtransferError, match="disagree on the threshold"):
        build_report(root, reps=50, plots=False)


def test_wandb_logging_never_fails(results, tmp_path):
    assert log_report_to_wandb(results, "disabled") is False  # no report yet: a warning, never an exception
    build_report(results, reps=100)
    assert log_report_to_wandb(results, "disabled") is True
    assert log_report_to_wandb(results, "offline") is True
    assert list((results / "report" / "wandb").glob("offline-run-*"))
    assert log_report_to_wandb(tmp_path / "missing", "offline") is False
