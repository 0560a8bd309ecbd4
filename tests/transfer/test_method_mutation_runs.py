"""The zero-shot run directory, written by ``Zeroshot.run`` itself (what the mutation run of
transfer/methods/zeroshot.py found untested): refusing or clearing an existing directory, nested new directories,
the episodes option, the config hash and the normalisation it reports.  Real PyBullet sources, 64 steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simtransfer.agents.policy_io import config_sha256, read_run_metadata
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.config import resolve_train_config
from simtransfer.experiments.train import train
from simtransfer.transfer.api import lineage, target_config
from simtransfer.transfer.methods import get_method
from simtransfer.transfer.source import SourceRun

PEND = "InvertedPendulumBulletEnv-v0"


def _train(out: Path, normalize: bool) -> Path:
    raw = {"env": PEND, "algo": "ppo", "seed": 0, "checkpoint_every": 0, "progress": False, "n_envs": 1,
           "eval": {"every": 0, "episodes": 1, "final_episodes": 3}, "tracking": {"mode": "disabled"},
           "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "total_timesteps": 64,
           "policy": {"net_arch": [8]}, "normalize": {"enabled": normalize}}
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zs")
    return {"normalized": _train(root / "norm", True), "plain": _train(root / "plain", False)}


def _run(source: Path, run_dir: Path, options: dict | None = None, **kwargs):
    """``Zeroshot.run`` called as the API calls it (without the API's own checks of the output directory)."""
    meth, src = get_method("zeroshot"), SourceRun.load(source)
    opts = meth.parse_options(options or {})
    config = meth.configure(target_config(src, PEND, method="zeroshot"), [src], opts)
    return meth.run(config, [src], opts, run_dir, {"lineage": lineage([src], meth, opts)}, **kwargs)


def test_zeroshot_refuses_a_non_empty_directory_unless_forced(sources, tmp_path):
    run_dir = tmp_path / "zs"
    (run_dir / "checkpoints").mkdir(parents=True)
    with pytest.raises(SimtransferError, match="is not empty"):
        _run(sources["plain"], run_dir)
    assert (run_dir / "checkpoints").is_dir() and not (run_dir / "eval.json").exists()
    _run(sources["plain"], run_dir, force=True)
    assert not (run_dir / "checkpoints").exists()  # what an earlier run left is cleared
    assert (run_dir / "eval.json").is_file()


@pytest.mark.parametrize("force", [False, True])
def test_zeroshot_writes_a_new_nested_directory(sources, tmp_path, force):
    run_dir = tmp_path / "a" / "b" / "zs"
    _run(sources["plain"], run_dir, force=force)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "eval.json", "metadata.json",
                                                         "policy.safetensors", "transfer_report.json"]


def test_zeroshot_episodes_option_overrides_the_configs_final_episodes(sources, tmp_path):
    default = _run(sources["plain"], tmp_path / "default")
    assert default.final["train"]["episodes"] == 3  # the source's eval.final_episodes
    asked = _run(sources["plain"], tmp_path / "asked", {"episodes": 2})
    assert asked.final["train"]["episodes"] == 2
    assert json.loads((tmp_path / "asked" / "eval.json").read_text())["final"]["train"]["episodes"] == 2


def test_zeroshot_metadata_hashes_its_own_config(sources, tmp_path):
    run_dir = tmp_path / "zs"
    _run(sources["normalized"], run_dir)
    meta = read_run_metadata(run_dir)
    assert meta["config_sha256"] == config_sha256((run_dir / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text() + "\n# edited\n")
    with pytest.raises(SimtransferError, match="does not match the sha256"):
        read_run_metadata(run_dir)


@pytest.mark.parametrize(("source", "normalization"), [("normalized", "carry"), ("plain", "off")])
def test_zeroshot_reports_carried_statistics_only_for_a_normalised_source(sources, tmp_path, source, normalization):
    result = _run(sources[source], tmp_path / "zs")
    assert result.report["normalization"] == normalization
    assert read_run_metadata(tmp_path / "zs")["lineage"]["report"]["normalization"] == normalization
    assert json.loads((tmp_path / "zs" / "transfer_report.json").read_text())["normalization"] == normalization
