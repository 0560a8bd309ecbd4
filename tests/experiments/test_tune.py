"""`simtransfer tune`: Optuna (seeded TPE) over a method's options, scored by the runner; resumable; bad ranges
are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.report import build_report
from simtransfer.experiments.tuning import parse_param, trial_label

REPO = Path(__file__).resolve().parents[2]


def tiny_experiment(tmp_path: Path) -> Path:
    exp = {
        "name": "tiny-tune",
        "source": {"config": str(REPO / "experiments/configs/inverted_pendulum.yaml"), "timesteps": 256,
                   "set": ["eval.every=0", "eval.episodes=1", "eval.targets=[]", "checkpoint_every=0", "n_envs=1",
                           "hyperparams.n_steps=128", "hyperparams.batch_size=64", "hyperparams.n_epochs=1"]},
        "targets": [{"name": "extrap", "env": "simtransfer/InvertedPendulumExtrap-v0"}],
        "methods": ["finetune"], "seeds": 1,
        "budget": {"timesteps": 128, "eval_every": 128, "eval_episodes": 1, "final_episodes": 1,
                   "random_episodes": 1},
        "tracking": "disabled",
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


@pytest.mark.parametrize("param, message", [
    ("lr=1e-3:1e-5:log", "empty range, LOW must be below HIGH"),
    ("lr=1e-4:1e-4", "empty range"),
    ("lr=0:1e-3:log", "a log range needs LOW > 0"),
    ("lr=a:1e-3", "'a' is not a number"),
    ("lr=1e-5:nan", "not a finite number"),
    ("lr=1e-5:1e-3:cubic", "optionally :log and/or :int"),
    ("lr", "expected NAME=LOW:HIGH"),
    ("lr=1e-5", "expected NAME=LOW:HIGH"),
    ("pull_coef=0.5:2.5:int", "an :int range needs whole numbers"),
    ("pull_kind=kl,kl", "at least two distinct choices"),
    ("bogus=1:2", "method 'finetune' has no option 'bogus'"),
])
def test_bad_tuning_ranges_are_one_line_errors(tmp_path, capsys, param, message):
    exp = tiny_experiment(tmp_path)
    assert main(["tune", str(exp), "--method", "finetune", "--param", param, "--trials", "1",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simtransfer: error:") and err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_other_bad_arguments(tmp_path, capsys):
    exp = str(tiny_experiment(tmp_path))
    for extra, message in ((["--trials", "0"], "--trials must be ≥ 1"), (["--target", "nope"], "unknown target"),
                           (["--metric", "speed"], "unknown metric"), ([], None)):
        args = ["tune", exp, "--method", "finetune", "--out", str(tmp_path / "o")] + (
            ["--param", "lr=1e-5:1e-3:log"] if extra else [])
        if "--trials" not in extra:
            args += ["--trials", "1"]
        assert main(args + extra) == 2
        assert (message or "at least one --param") in capsys.readouterr().err


def test_param_syntax():
    assert parse_param("lr=1e-5:1e-3:log").name == "learning_rate"
    spec = parse_param("n=1:4:int")
    assert (spec.low, spec.high, spec.integer, spec.log) == (1, 4, True, False)
    assert parse_param("pull_kind=kl,bc").choices == ["kl", "bc"]
    assert trial_label({"a": 1}) == trial_label({"a": 1}) != trial_label({"a": 2})


def test_tune_runs_trials_through_the_runner_and_resumes(tmp_path, capsys):
    exp = str(tiny_experiment(tmp_path))
    out = tmp_path / "study"
    args = ["tune", exp, "--method", "finetune", "--param", "lr=1e-5:1e-3:log", "--out", str(out)]
    assert main([*args, "--trials", "2"]) == 0
    first = json.loads((out / "tune.json").read_text())
    assert (out / "optuna.journal").is_file() and len(first["trials"]) == 2
    labels = {t["label"] for t in first["trials"]}
    cells = out / "runs/cells/extrap"
    assert labels <= {p.name for p in cells.iterdir()} and (cells / "scratch").is_dir()
    summaries = {s.method: s for s in build_report(out / "runs", plots=False).summaries}
    for t in first["trials"]:  # the objective is the report's IQM of the metric (asymptotic) for that trial
        assert t["value"] == summaries[t["label"]].asymptotic.value
        assert 1e-5 <= t["options"]["learning_rate"] <= 1e-3
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["value"] == first["best"]["value"]
    stamps = {n: (cells / n / "seed0" / "cell.json").stat().st_mtime_ns for n in labels}
    assert main([*args, "--trials", "3"]) == 0  # resumes: one more trial, the first two untouched
    second = json.loads((out / "tune.json").read_text())
    assert [t["options"] for t in second["trials"][:2]] == [t["options"] for t in first["trials"]]
    assert len(second["trials"]) == 3
    assert stamps == {n: (cells / n / "seed0" / "cell.json").stat().st_mtime_ns for n in stamps}
    # seeded: a fresh study with the same sampler seed proposes the same first options
    assert main([*args[:-1], str(tmp_path / "again"), "--trials", "1"]) == 0
    again = json.loads((tmp_path / "again/tune.json").read_text())
    assert again["trials"][0]["options"] == first["trials"][0]["options"]


def test_parse_param_rejects_without_cli():
    with pytest.raises(SimtransferError, match="empty range"):
        parse_param("alpha=2:1")
