"""One import name: simtransfer works from a folder holding its own ``envs/`` and ``agents/`` packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _user_project(tmp_path: Path) -> Path:
    """A typical RL repository: its own ``envs`` and ``agents`` packages, which must never be imported."""
    for name in ("envs", "agents", "transfer", "experiments"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the user\\'s own {name} was imported')\n")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["WANDB_MODE"] = "disabled"
    return env


def test_cli_and_api_ignore_the_users_own_top_level_packages(tmp_path):
    cwd = _user_project(tmp_path)
    api = ("import sys; sys.path.insert(0, ''); import gymnasium as gym; import simtransfer.envs; "
           "from simtransfer.experiments.config import load_train_config; "
           f"cfg = load_train_config({str(REPO / 'experiments/configs/inverted_pendulum.yaml')!r}); "
           "env = gym.make('simtransfer/InvertedPendulum-v0'); env.reset(seed=0); print('api ok', cfg.algo)")
    out = subprocess.run([sys.executable, "-c", api], cwd=cwd, env=_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "api ok ppo" in out.stdout, out.stderr[-2000:]
    cli = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, ''); "
                          "from simtransfer.experiments.cli import main; sys.exit(main(['envs']))"],
                         cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "InvertedPendulum" in cli.stdout + cli.stderr, cli.stderr[-2000:]


def test_code_imports_only_the_simtransfer_name():
    """No module of the package imports the bare folder names (they do not exist once installed)."""
    import re

    bare = re.compile(r"^\s*(from|import)\s+(envs|agents|transfer|experiments)\b", re.M)
    offenders = [str(p.relative_to(REPO)) for folder in ("envs", "agents", "transfer", "experiments", "tests")
                 for p in (REPO / folder).rglob("*.py") if bare.search(p.read_text())]
    assert offenders == []
