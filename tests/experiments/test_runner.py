"""The experiment runner: config validation, an end-to-end tiny experiment, resumability after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.experiment import load_experiment, parse_experiment
from simtransfer.experiments.runner import is_done, plan, run_experiment

REPO = Path(__file__).resolve().parents[2]


def tiny_experiment(**over) -> dict:
    exp = {
        "name": "tiny",
        "source": {
            "config": str(REPO / "experiments/configs/inverted_pendulum.yaml"),
            "timesteps": 512,
            "set": ["eval.every=0", "eval.episodes=1", "eval.targets=[]", "checkpoint_every=256",
                    "n_envs=1", "hyperparams.n_steps=128", "hyperparams.batch_size=64", "hyperparams.n_epochs=1"],
        },
        "targets": [{"name": "extrap", "env": "simtransfer/InvertedPendulumExtrap-v0"}],
        "methods": ["zeroshot", "finetune"],
        "seeds": 1,
        "budget": {"timesteps": 256, "eval_every": 128, "eval_episodes": 1, "final_episodes": 1,
                   "random_episodes": 1},
        "threshold": 500,
        "tracking": "disabled",
    }
    exp.update(over)
    return exp


def write(tmp_path: Path, exp: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def test_scratch_always_added_and_plan_layout(tmp_path):
    cfg = parse_experiment(tiny_experiment(seeds=[3, 7]))
    assert [m.label for m in cfg.all_methods()] == ["scratch", "zeroshot", "finetune"]
    sources, cells = plan(cfg, tmp_path)
    assert [Path(j.out_dir).name for j in sources] == ["seed3", "seed7"]
    kinds = sorted({(j.kind, j.method) for j in cells}, key=str)
    assert ("random", None) in kinds and ("cell", "scratch") in kinds
    assert len(cells) == 2 * (1 + 3)  # random + 3 methods, 2 seeds, 1 target
    assert Path(cells[-1].out_dir).relative_to(tmp_path).parts[:3] == ("cells", "extrap", "finetune")


def test_named_sources_plan_and_method_lookup(tmp_path):
    base = tiny_experiment()
    exp = tiny_experiment(sources={"nominal": {**base["source"], "config": str(
        REPO / "experiments/configs/inverted_pendulum_nominal.yaml")}},
        methods=["zeroshot", {"method": "zeroshot", "label": "nominal_zs", "source": "nominal"}], seeds=2)
    cfg = parse_experiment(exp)
    sources, cells = plan(cfg, tmp_path)
    assert [(j.source, Path(j.out_dir).relative_to(tmp_path).as_posix()) for j in sources] == [
        (None, "sources/seed0"), (None, "sources/seed1"),
        ("nominal", "sources/nominal/seed0"), ("nominal", "sources/nominal/seed1")]
    assert {j.source for j in cells if j.method == "nominal_zs"} == {"nominal"}
    assert {j.source for j in cells if j.method == "zeroshot"} == {None}
    with pytest.raises(SimtransferError, match="unknown source 'dr'"):
        parse_experiment(tiny_experiment(methods=[{"method": "zeroshot", "label": "x", "source": "dr"}]))


def test_named_source_cells_transfer_from_their_own_source(tmp_path):
    """A zero-shot cell from a named source evaluates that source's policy, not the main one's."""
    base = tiny_experiment()
    exp = tiny_experiment(sources={"nominal": {**base["source"], "config": str(
        REPO / "experiments/configs/inverted_pendulum_nominal.yaml"), "timesteps": 256}},
        methods=["zeroshot", {"method": "zeroshot", "label": "nominal_zs", "source": "nominal"}],
        budget={**base["budget"], "random_episodes": 0})
    out = tmp_path / "out"
    summary = run_experiment(parse_experiment(exp), out, report=False, log=lambda m: None)
    assert summary.failed == [] and summary.ran == 2 + 3
    meta = json.loads((out / "cells/extrap/nominal_zs/seed0/metadata.json").read_text())
    assert "sources/nominal/seed0" in json.dumps(meta)
    assert json.loads((out / "sources/nominal/seed0/job.json").read_text())["status"] == "done"


@pytest.mark.parametrize(("change", "needle"), [
    ({"bogus": 1}, "bogus: unknown key"),
    ({"seeds": 0}, "seeds"),
    ({"targets": []}, "targets"),
    ({"methods": ["finetune", {"method": "freeze", "label": "finetune"}]}, "duplicate method label"),
    ({"targets": [{"env": "simtransfer/InvertedPendulumExtrap-v0", "name": "a/b"}]}, "names a folder"),
])
def test_bad_experiment_config_names_the_key(tmp_path, change, needle):
    path = write(tmp_path, tiny_experiment(**change))
    with pytest.raises(SimtransferError, match="exp.yaml") as err:
        load_experiment(path)
    assert needle in str(err.value)


def test_cli_rejects_unknown_target_before_training(tmp_path, capsys):
    exp = tiny_experiment(targets=[{"name": "nope", "env": "simtransfer/NoSuchTask-v0"}])
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, exp)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("simtransfer: error:") and "NoSuchTask" in err[-1]
    assert not (out / "sources").exists()


def test_cli_rejects_unknown_method(tmp_path, capsys):
    exp = tiny_experiment(methods=["telepathy"])
    assert main(["run", str(write(tmp_path, exp)), "--out", str(tmp_path / "o")]) == 2
    assert "unknown transfer method 'telepathy'" in capsys.readouterr().err


def test_end_to_end_report_and_rerun_skips_everything(tmp_path):
    out = tmp_path / "out"
    first = run_experiment(parse_experiment(tiny_experiment()), out, log=lambda _m: None)
    assert first.failed == [] and first.ran == 1 + 1 + 3  # source, random, scratch/zeroshot/finetune
    for name in ("report.md", "summary.csv", "summary.json"):
        assert (out / "report" / name).is_file()
    assert list((out / "report").glob("*.png"))
    summary = json.loads((out / "report" / "summary.json").read_text())
    methods = {(s["target"], s["method"]) for s in summary["summaries"]}
    assert {("extrap", "finetune"), ("extrap", "zeroshot")} <= methods
    cell = out / "cells" / "extrap" / "finetune" / "seed0"
    assert json.loads((cell / "cell.json").read_text())["status"] == "done"
    meta = json.loads((cell / "metadata.json").read_text())
    assert Path(meta["lineage"]["source_run"]) == (out / "sources" / "seed0").resolve()
    # every cell is a normal run directory: `simtransfer evaluate` works on it
    assert main(["evaluate", str(cell), "--target", "simtransfer/InvertedPendulumExtrap-v0",
                 "--episodes", "1", "--json"]) == 0

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("cell.json")}
    second = run_experiment(parse_experiment(tiny_experiment()), out, log=lambda _m: None)
    assert second.ran == 0 and second.skipped == first.ran
    assert mtimes == {p: p.stat().st_mtime_ns for p in out.rglob("cell.json")}


def test_refuses_to_mix_a_different_experiment(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "experiment.yaml").write_text(yaml.safe_dump({"name": "other", "targets": []}))
    with pytest.raises(SimtransferError, match="different experiment"):
        run_experiment(parse_experiment(tiny_experiment()), out, log=lambda _m: None)
    assert yaml.safe_load((out / "experiment.yaml").read_text())["name"] == "other"  # left intact


def test_killed_run_continues_without_redoing_finished_cells(tmp_path):
    exp = tiny_experiment(methods=["finetune"], seeds=2)
    path = write(tmp_path, exp)
    out = tmp_path / "out"
    env = dict(os.environ, WANDB_MODE="disabled")
    proc = subprocess.Popen([sys.executable, "-m", "simtransfer.experiments.cli", "run", str(path), "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    cfg = load_experiment(path)
    sources, cells = plan(cfg, out)
    while time.monotonic() < deadline and not any(is_done(j) for j in cells if j.kind == "cell"):
        time.sleep(0.2)
        assert proc.poll() is None, "run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {j.out_dir: j.marker.stat().st_mtime_ns for j in sources + cells if is_done(j)}
    assert finished and len(finished) < len(sources) + len(cells)

    summary = run_experiment(cfg, out, log=lambda _m: None)
    assert summary.failed == []
    assert summary.ran == len(sources) + len(cells) - len(finished)
    assert all(is_done(j) for j in sources + cells)
    for out_dir, mtime in finished.items():  # nothing finished was redone
        job = next(j for j in sources + cells if j.out_dir == out_dir)
        assert job.marker.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("mode", ["pool", "ray"])
def test_parallel_executors_write_the_same_layout(tmp_path, mode):
    if mode == "ray":
        pytest.importorskip("ray")
    exp = tiny_experiment(methods=["finetune"], budget={"timesteps": 128, "eval_every": 128, "eval_episodes": 1,
                                                       "final_episodes": 1, "random_episodes": 0})
    cfg = parse_experiment(exp)
    out = tmp_path / mode
    summary = run_experiment(cfg, out, workers=2, ray_address="local" if mode == "ray" else None,
                             report=False, log=lambda _m: None)
    assert summary.failed == [] and summary.ran == 3  # source, scratch, finetune
    sources, cells = plan(cfg, out)
    assert all(is_done(j) for j in sources + cells)
    assert all((Path(j.out_dir) / "policy.safetensors").is_file() for j in sources + cells)


@pytest.mark.parametrize("error,match", [
    (ConnectionError("could not reach the head node"), "cannot connect to Ray at 'ray://head:10001': could not reach"),
    (ValueError("Ray Client requires pip package `ray[client]`. If you installed the minimal Ray ..."),
     r"ray\[client\].*pip install 'simtransfer\[ray\]'"),
])
def test_unreachable_ray_leaves_no_output_directory(tmp_path, monkeypatch, capsys, error, match):
    """Ray is connected to before OUT is created: a bad --ray address is one line and writes nothing."""
    ray = pytest.importorskip("ray")

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    out = tmp_path / "out"
    with pytest.raises(SimtransferError, match=match):
        run_experiment(write(tmp_path, tiny_experiment()), out, ray_address="ray://head:10001")
    assert not out.exists()
    assert main(["run", str(write(tmp_path, tiny_experiment())), "--out", str(out), "--ray", "ray://head:10001"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simtransfer: error: cannot connect to Ray"), err
    assert not out.exists()
