"""The command line as a script sees it: exit codes, one-line errors, clean machine-readable stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="disabled")
    return subprocess.run([sys.executable, "-m", "simtransfer.experiments.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)


def test_no_command_prints_help_and_fails():
    proc = run_cli()
    assert proc.returncode == 2
    assert "train" in proc.stderr and "transfer" in proc.stderr


def test_json_stdout_is_one_object_even_though_pybullet_prints_from_c():
    # pybullet writes "pybullet build time" and "argv[0]=" to file descriptor 1; --json output must stay parseable
    proc = run_cli("envs", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data
    assert "pybullet build time" not in proc.stdout and "argv[0]" not in proc.stdout


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    proc = run_cli("train", str(bad), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("simtransfer:")]
    assert lines == [lines[-1]] and "malformed YAML" in lines[-1] and "bad.yaml" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
