"""Every transfer method's output exports with parity (≤ 1e-5 over ≥ 1000 real observations, ONNX Runtime and
TorchScript): carried normalization, index adapters (observation and action), learned projections,
progressive columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.test_export import PARITY_STEPS, parity

PEND, HOPPER, WALKER = "InvertedPendulumBulletEnv-v0", "HopperBulletEnv-v0", "Walker2DBulletEnv-v0"
TINY = {
    "ppo": {"hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "total_timesteps": 64,
            "policy": {"net_arch": [16, 16]}},
    "sac": {"hyperparams": {"learning_starts": 32, "batch_size": 16, "buffer_size": 500}, "total_timesteps": 48,
            "policy": {"net_arch": [16, 16]}},
}


def _source(root: Path, env: str, algo: str, normalize: bool) -> Path:
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train

    raw = {"env": env, "algo": algo, "seed": 0, "checkpoint_every": 0, "progress": False,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
           "normalize": {"enabled": normalize}, **TINY[algo]}
    out = root / f"src_{env}_{algo}"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_sources")
    return {"ppo": _source(root, PEND, "ppo", True), "sac": _source(root, PEND, "sac", False),
            "hopper": _source(root, HOPPER, "ppo", True)}


CASES = {  # name -> (source, target, method, options)
    **{m: ("ppo", PEND, m, {}) for m in ("scratch", "zeroshot", "finetune", "freeze", "features", "partial",
                                         "l2sp", "progressive")},
    "sac_finetune": ("sac", PEND, "finetune", {}),
    "sac_progressive": ("sac", PEND, "progressive", {}),
    "adapter_index": ("hopper", WALKER, "finetune", {"adapter": "hopper_to_walker2d"}),
    "adapter_learned": ("hopper", WALKER, "finetune", {"adapter": "hopper_to_walker2d", "adapter_mode": "learned"}),
    "adapter_progressive": ("hopper", WALKER, "progressive", {"adapter": "hopper_to_walker2d"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_transfer_output_exports_with_parity(sources, tmp_path, case):
    from simtransfer.transfer.api import transfer

    src, target, method, options = CASES[case]
    out = tmp_path / case
    steps = TINY["sac" if src == "sac" else "ppo"]["total_timesteps"]
    transfer(sources[src], target, method, out_dir=out, timesteps=steps, seed=1, quiet=True, options=options,
             eval_at_start=False)
    diffs = parity(out, tmp_path, PARITY_STEPS)
    assert max(diffs.values()) <= 1e-5, diffs
    from simtransfer.agents.export import read_metadata

    meta = read_metadata(tmp_path / f"{case}.onnx")
    if case == "adapter_index":  # the robot's raw Walker2D layout in and out; the source's layout inside
        assert meta["stages"] == ["obs", "act", "normalize"]
        assert meta["observation"]["shape"] == [22] and meta["action"]["shape"] == [6]
