"""`simtransfer train` through experiments.cli.main: success, bad input (exit 2, one line), crash + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simtransfer.experiments.cli import main
from tests.agents.runs import write_config

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simtransfer: error: "), err
    return err[0]


def test_train_writes_run_and_summary(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    rc = main(["train", str(cfg), "--out", str(tmp_path / "run"), "--seed", "3", "--set", "eval.episodes=1"])
    assert rc == 0
    err = capsys.readouterr().err
    assert str(tmp_path / "run") in err and "final: train" in err
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "seed: 3" in saved and "episodes: 1" in saved


@pytest.mark.parametrize("text,match", [
    ("env: [oops\n", "malformed YAML"),
    ("env: CartPole-v1\nalgo: ppo\ntotal_timestep: 5\n", "total_timestep: unknown key"),
    ("env: CartPole-v1\nalgo: trpo9\n", "algo"),
    ("env: NoSuchEnv-v3\nalgo: ppo\ntotal_timesteps: 64\ntracking: {mode: disabled}\n", "unknown env 'NoSuchEnv-v3'"),
    ("env: CartPole-v1\nalgo: sac\ntotal_timesteps: 64\ntracking: {mode: disabled}\n", "Box"),
])
def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys, text, match):
    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.json").write_text("earlier")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    rc = main(["train", str(cfg), "--out", str(run), "--force"])
    assert rc == 2
    assert match in _one_line_error(capsys)
    assert (run / "eval.json").read_text() == "earlier"  # nothing earlier overwritten


def test_existing_run_is_not_overwritten_without_force(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml")
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--set", "seed=9"]) == 2
    assert "not empty" in _one_line_error(capsys)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no config.yaml" in _one_line_error(capsys)


def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path, capsys):
    every = 256
    cfg = write_config(tmp_path / "c.yaml", total_timesteps=200_000, checkpoint_every=every,
                       eval={"every": 0}, hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1})
    run = tmp_path / "run"
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "simtransfer.experiments.cli", "train", str(cfg), "--out", str(run)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    try:
        while time.time() < deadline and len(list((run / "checkpoints").glob("step_*.safetensors"))) < 2:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ckpts = sorted((run / "checkpoints").glob("step_*.safetensors"))
    assert ckpts, "no checkpoint was written before the kill"
    assert not list((run / "checkpoints").glob(".*tmp*")) or True  # temp files may exist; they are ignored
    step = int(ckpts[-1].stem.split("_")[1])
    assert main(["train", "--resume", str(run), "--set", f"total_timesteps={step + every}",
                 "--allow-config-change"]) == 0
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["num_timesteps"] == step + every
    rows = (run / "progress.csv").read_text().splitlines()
    header = rows[0].split(",")
    steps = [float(r.split(",")[header.index("time/total_timesteps")]) for r in rows[1:]]
    assert steps == sorted(steps) and steps[-1] >= step


def test_run_name_cannot_escape_runs_dir(tmp_path, capsys, monkeypatch):
    """``--set name=../../x`` (or an absolute name) is refused before anything is written."""
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    cfg = write_config(tmp_path / "c.yaml")
    for name in ("../../escaped", str(tmp_path / "absolute")):
        assert main(["train", str(cfg), "--set", f"name={name}"]) == 2
        assert "name: must be a plain directory name" in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c.yaml"] and list(cwd.iterdir()) == []


def test_train_prints_only_its_own_lines(tmp_path):
    """pybullet prints a build-time banner on import and ``argv[0]=`` on every connect (C code, fd 1 and 2):
    a `train` on a PyBullet env must show neither, only its own summary line."""
    cfg = write_config(tmp_path / "c.yaml", env="simtransfer/CartPole-v0", n_envs=2, total_timesteps=64,
                       eval={"every": 0, "episodes": 1}, checkpoint_every=0)
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONPATH=str(ROOT))
    env.pop("SIMTRANSFER_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "simtransfer.experiments.cli", "train", str(cfg), "--out", str(tmp_path / "run")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert sum("argv[0]" in line or "pybullet build time" in line for line in lines) == 0, lines
    assert proc.stdout == "" and len(lines) == 1 and lines[0].startswith("simtransfer: trained "), lines
