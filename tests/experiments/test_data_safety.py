"""Regression tests for issue 21 (data loss and corruption): --force guards, locks, stale cells, --resume
semantics (own config, transfer runs, finished runs, truncated checkpoints) and a full disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simtransfer.agents.checkpoint import list_checkpoints
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config, write_config

ROOT = Path(__file__).resolve().parents[2]


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def source(tmp_path) -> Path:
    src = tmp_path / "runs" / "src"
    train(tiny_config("ppo", total_timesteps=64), src)
    return src


# 1 ------------------------------------------------------------------------------------- --force
def test_force_never_clears_a_directory_holding_the_source(tmp_path, source, capsys):
    before = _snapshot(tmp_path / "runs")
    code = main(["transfer", str(source), "--target", "CartPole-v1", "--method", "finetune",
                 "--out", str(tmp_path / "runs"), "--force", "--timesteps", "64"])
    lines = _err_lines(capsys)
    assert code == 2 and "contains source run" in lines[-1] and lines[-1].startswith("simtransfer: error:")
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["train", str(cfg), "--out", str(tmp_path / "runs"), "--force"]) == 2
    assert "not a simtransfer run directory" in _err_lines(capsys)[-1]
    assert _snapshot(tmp_path / "runs") == before


# 2 ------------------------------------------------------------------------------------- locks
def _hold_lock(directory: Path) -> subprocess.Popen:
    directory.mkdir(parents=True, exist_ok=True)
    code = ("import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory / ".lock")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("command", ["train", "transfer", "run"])
def test_second_invocation_on_a_locked_directory_fails_at_once(tmp_path, source, capsys, command):
    out = tmp_path / "out"
    holder = _hold_lock(out)
    try:
        if command == "train":
            argv = ["train", str(write_config(tmp_path / "c.yaml")), "--out", str(out)]
        elif command == "transfer":
            argv = ["transfer", str(source), "--target", "CartPole-v1", "--method", "finetune", "--out", str(out)]
        else:
            exp = {"name": "x", "source": {"config": tiny_config().model_dump(mode="json")},
                   "targets": [{"env": "CartPole-v1", "name": "cp"}], "seeds": 1, "tracking": "disabled",
                   "budget": {"timesteps": 64, "eval_every": 64, "random_episodes": 1}}
            (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
            argv = ["run", str(tmp_path / "exp.yaml"), "--out", str(out)]
        assert main(argv) == 2
    finally:
        holder.kill()
        holder.wait()
    lines = _err_lines(capsys)
    assert lines[-1] == f"simtransfer: error: {out} is in use by another simtransfer process (lock file {out}/.lock)"
    assert [p.name for p in out.iterdir()] == [".lock"]


# 3 ------------------------------------------------------------------------------------- stale cells
def _experiment(methods: list, timesteps: int) -> dict:
    src = tiny_config("ppo", total_timesteps=64).model_dump(mode="json")
    return {"name": "stale", "source": {"config": src}, "targets": [{"env": "CartPole-v1", "name": "cp"}],
            "methods": methods, "seeds": 1, "tracking": "disabled",
            "budget": {"timesteps": timesteps, "eval_every": 64, "eval_episodes": 1, "final_episodes": 1,
                       "random_episodes": 1}}


def test_run_force_redoes_changed_cells_and_drops_removed_ones(tmp_path):
    from simtransfer.experiments.experiment import parse_experiment
    from simtransfer.experiments.report import load_results
    from simtransfer.experiments.runner import run_experiment

    out = tmp_path / "out"
    run_experiment(parse_experiment(_experiment(["finetune"], 128)), out, report=False, log=lambda m: None)
    job = out / "sources" / "seed0" / "job.json"
    source_marker = job.read_bytes()
    with pytest.raises(SimtransferError, match="different experiment"):
        run_experiment(parse_experiment(_experiment([], 64)), out, report=False, log=lambda m: None)
    run_experiment(parse_experiment(_experiment([], 64)), out, force=True, report=False, log=lambda m: None)
    assert job.read_bytes() == source_marker  # the source's inputs did not change: not retrained
    assert not (out / "cells" / "cp" / "finetune").exists()
    res = load_results(out)
    assert sorted(res.targets["cp"].methods) == ["scratch"]
    curve = json.loads((out / "cells" / "cp" / "scratch" / "seed0" / "eval.json").read_text())["curves"]["train"]
    assert curve["timesteps"][-1] == 64


# 4 ------------------------------------------------------------------------------------- --resume config
def test_resume_uses_the_runs_own_config(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["train", str(cfg), "--out", str(run)]) == 0
    (run / "metadata.json").unlink()  # as if killed before the end
    own = (run / "config.yaml").read_bytes()
    other = write_config(tmp_path / "other.yaml", hyperparams={"learning_rate": 1e-2})
    assert main(["train", str(other), "--resume", str(run)]) == 2
    line = _err_lines(capsys)[-1]
    assert "differs from" in line and "hyperparams.learning_rate" in line and "--allow-config-change" in line
    assert main(["train", "--resume", str(run), "--seed", "5"]) == 2
    assert "seed" in _err_lines(capsys)[-1]
    assert (run / "config.yaml").read_bytes() == own and not (run / "metadata.json").exists()
    same = tmp_path / "same.yaml"
    same.write_bytes(own)
    assert main(["train", str(same), "--resume", str(run), "--seed", "0"]) == 0  # identical: fine
    (run / "metadata.json").unlink()
    assert main(["train", str(cfg), "--resume", str(run)]) == 0  # the CONFIG it was trained from: fine
    assert (run / "config.yaml").read_bytes() == own and (run / "metadata.json").is_file()


# 5 ------------------------------------------------------------------------------------- transfer --resume
def test_killed_transfer_continues_with_transfer_resume(tmp_path, source, capsys):
    out = tmp_path / "freeze"
    assert main(["transfer", str(source), "--target", "CartPole-v1", "--method", "freeze", "--freeze", "pi.0",
                 "--out", str(out), "--timesteps", "128"]) == 0
    for name in ("metadata.json", "policy.safetensors", "model.zip", "transfer_report.json"):
        (out / name).unlink()  # as if killed after the checkpoint at step 64
    list_checkpoints(out / "checkpoints")[-1].unlink()
    assert main(["train", "--resume", str(out)]) == 2
    assert "transfer --resume" in _err_lines(capsys)[-1]
    assert main(["transfer", "--resume", str(out)]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["num_timesteps"] == 128 and meta["lineage"]["method"] == "freeze"
    assert meta["lineage"]["report"]["frozen"] and (out / "transfer_report.json").is_file()


# 6 ------------------------------------------------------------------------------------- finished run
def test_resume_on_a_finished_run_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config("ppo"), run)
    before = _snapshot(run)
    assert main(["train", "--resume", str(run)]) == 0
    assert "already finished" in capsys.readouterr().err
    assert _snapshot(run) == before


# 7 ------------------------------------------------------------------------------------- truncated checkpoint
def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config("ppo"), run)
    (run / "metadata.json").unlink()
    last = list_checkpoints(run / "checkpoints")[-1]
    last.write_bytes(last.read_bytes()[:100])
    capsys.readouterr()
    result = train(None, run, resume=True)
    assert result.num_timesteps == 128
    warnings = [line for line in _err_lines(capsys) if "warning" in line]
    assert len(warnings) == 1 and last.name in warnings[0]


# 8 ------------------------------------------------------------------------------------- full disk
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_is_one_line_and_keeps_earlier_results(tmp_path, capsys, monkeypatch, err):
    import simtransfer.agents.policy_io as policy_io

    run = tmp_path / "run"
    train(tiny_config("ppo"), run)
    kept = {p.name: p.read_bytes() for p in list_checkpoints(run / "checkpoints")}
    meta = (run / "metadata.json").read_bytes()
    capsys.readouterr()

    real_fsync = policy_io.os.fsync

    def full(fd):  # the disk fills up while the next checkpoint is written
        if "step_" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(err, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(policy_io.os, "fsync", full)
    code = main(["train", "--resume", str(run), "--set", "total_timesteps=256", "--allow-config-change"])
    lines = _err_lines(capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("simtransfer: error: disk full while writing ") and "step_000000192" in lines[0]
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    assert {p.name: p.read_bytes() for p in list_checkpoints(run / "checkpoints")} == kept
    assert (run / "metadata.json").read_bytes() == meta
