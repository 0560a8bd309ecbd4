"""Every method end to end through the training pipeline on tiny budgets, for PPO and SAC."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simtransfer.envs.errors import SimtransferError

PEND, DOUBLE = "InvertedPendulumBulletEnv-v0", "InvertedDoublePendulumBulletEnv-v0"
TINY = {
    "ppo": {"hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "total_timesteps": 64,
            "policy": {"net_arch": [16, 16]}},
    "sac": {"hyperparams": {"learning_starts": 32, "batch_size": 16, "buffer_size": 500}, "total_timesteps": 48,
            "policy": {"net_arch": [16, 16]}},
}
METHODS = ["scratch", "zeroshot", "finetune", "freeze", "features", "partial", "l2sp"]


def _dir_hash(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _source(root: Path, algo: str, normalize: bool = False) -> Path:
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train

    raw = {"env": PEND, "algo": algo, "seed": 0, "checkpoint_every": 0, "progress": False,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
           "normalize": {"enabled": normalize}, **TINY[algo]}
    out = root / f"src_{algo}{'_norm' if normalize else ''}"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {algo: _source(root, algo) for algo in ("ppo", "sac")}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from simtransfer.agents.policy_io import read_weights

    return read_weights(run / "policy.safetensors")[0]


@pytest.mark.parametrize("algo", ["ppo", "sac"])
@pytest.mark.parametrize("method", METHODS)
def test_method_end_to_end(sources, tmp_path, algo, method):
    from simtransfer.transfer.api import transfer
    from simtransfer.transfer.source import SourceRun

    src = sources[algo]
    before = _dir_hash(src)
    out = tmp_path / method
    res = transfer(src, PEND, method, out_dir=out, timesteps=TINY[algo]["total_timesteps"], seed=1, quiet=True)
    assert _dir_hash(src) == before  # the source run is never modified
    for name in ("config.yaml", "policy.safetensors", "metadata.json", "eval.json", "transfer_report.json"):
        assert (out / name).is_file(), name
    lineage = json.loads((out / "metadata.json").read_text())["lineage"]
    assert lineage["method"] == method
    assert lineage["source_sha256"] == SourceRun.load(src).sha256
    assert lineage["sources"][0]["run"] == str(src.resolve())
    evals = json.loads((out / "eval.json").read_text())
    assert "train" in evals["final"] and np.isfinite(evals["final"]["train"]["mean_return"])
    assert res.run_dir == out and res.method == method
    assert evals["curves"]["train"]["timesteps"][0] == 0  # scored before any target training
    if method == "zeroshot":
        assert evals["curves"]["train"]["timesteps"] == [0]
    from simtransfer.agents.policy_io import load_policy

    load_policy(out)  # the new run loads like any other

    src_w, out_w = _weights(src), _weights(out)
    report = json.loads((out / "transfer_report.json").read_text())
    if method in ("freeze", "features"):
        assert report["frozen"]
        for n in report["frozen"]:  # frozen tensors: bit-identical to the source after training
            assert torch.equal(src_w[n], out_w[n]), n
        unfrozen = [n for n in out_w if n not in report["frozen"] and "_target" not in n and "log_std" not in n]
        assert any(not torch.equal(src_w[n], out_w[n]) for n in unfrozen)
    if method == "features":
        assert report["reinitialized"] and not set(report["reinitialized"]) & set(report["frozen"])
    if method == "scratch":
        assert not report["loaded"]


def test_partial_across_observation_spaces(sources, tmp_path, capsys):
    from simtransfer.transfer.api import transfer

    out = tmp_path / "partial"
    res = transfer(sources["ppo"], DOUBLE, "partial", out_dir=out, timesteps=64)
    report = json.loads((out / "transfer_report.json").read_text())
    assert {s["target"] for s in report["skipped_shape"]} == {"mlp_extractor.policy_net.0.weight",
                                                               "mlp_extractor.value_net.0.weight"}
    assert report["skipped_shape"][0]["source_shape"][1] == 5 and report["skipped_shape"][0]["target_shape"][1] == 9
    assert "action_net.weight" in report["loaded"]
    assert res.report == report
    assert "skipped mlp_extractor.policy_net.0.weight [16, 5]" in capsys.readouterr().err


def test_mismatch_without_adapter_is_one_line_error(sources, tmp_path):
    from simtransfer.transfer.api import transfer

    with pytest.raises(SimtransferError, match=r"spaces differ: source InvertedPendulumBulletEnv-v0 has observation "
                                               r"Box\(5,\).*target InvertedDoublePendulumBulletEnv-v0 has observation "
                                               r"Box\(9,\).*--adapter invpendulum_to_invdoublependulum"):
        transfer(sources["ppo"], DOUBLE, "finetune", out_dir=tmp_path / "x", timesteps=64)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("method", ["zeroshot", "finetune"])
@pytest.mark.usefixtures("trust_test_helpers")
def test_target_with_a_wider_action_range_is_one_line_error(sources, tmp_path, method):
    from simtransfer.transfer.api import transfer
    from tests.agents.runs import action_range_target

    with pytest.raises(SimtransferError, match=r"spaces differ: .* action Box\(1,\) in \[-1, 1\], target "
                                               r".* action Box\(1,\) in \[-2, 2\] after adapters") as info:
        transfer(sources["sac"], action_range_target(PEND, 2.0), method, out_dir=tmp_path / "x", timesteps=64)
    assert "\n" not in str(info.value) and not (tmp_path / "x").exists()


@pytest.mark.parametrize("mode", ["index", "learned"])
def test_adapter_through_the_pipeline(sources, tmp_path, mode):
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.transfer.api import transfer

    out = tmp_path / mode
    transfer(sources["ppo"], DOUBLE, "finetune", out_dir=out, timesteps=64, quiet=True,
             options={"adapter": "invpendulum_to_invdoublependulum", "adapter_mode": mode})
    loaded = load_policy(out)
    if mode == "index":
        assert loaded.config.adapters[0].type == "simtransfer.transfer.adapters:ObsIndexMap"
        assert loaded.observation_space.shape == (5,)
    else:
        assert loaded.observation_space.shape == (9,)
        assert "features_extractor.proj.weight" in _weights(out)
    src_w, out_w = _weights(sources["ppo"]), _weights(out)
    assert src_w["mlp_extractor.policy_net.0.weight"].shape == out_w["mlp_extractor.policy_net.0.weight"].shape


def test_normalization_carry_and_reestimate(tmp_path):
    from stable_baselines3 import PPO

    from simtransfer.agents.vecenv import make_training_env
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.transfer.methods import get_method
    from simtransfer.transfer.source import SourceRun

    src = SourceRun.load(_source(tmp_path, "ppo", normalize=True))
    cfg = resolve_train_config(src.config, use_defaults=False)
    method = get_method("finetune")
    for mode in ("carry", "reestimate"):
        venv = make_training_env(cfg)
        model = PPO("MlpPolicy", venv, device="cpu", policy_kwargs={"net_arch": [16, 16]})
        report = method.prepare_model(model, venv, [src], method.parse_options({"normalization": mode}))
        assert report.normalization == mode
        carried = np.allclose(venv.obs_rms.mean, src.normalization["obs_rms.mean"].numpy())
        assert carried == (mode == "carry")
        venv.close()


def test_cli_transfer_json(sources, tmp_path, capsys):
    from simtransfer.experiments.cli import main

    out = tmp_path / "cli"
    code = main(["transfer", str(sources["ppo"]), "--target", PEND, "--method", "freeze", "--freeze", "pi.0",
                 "--timesteps", "64", "--out", str(out), "--set", "method.reinit_head=true", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "freeze" and payload["run_dir"] == str(out)
    assert payload["report"]["frozen"] == ["mlp_extractor.policy_net.0.weight", "mlp_extractor.policy_net.0.bias"]
    code = main(["transfer", str(sources["ppo"]), "--target", PEND, "--method", "freeze", "--set", "method.bogus=1",
                 "--out", str(tmp_path / "bad")])
    assert code == 2
    assert "method 'freeze': option bogus" in capsys.readouterr().err


@pytest.mark.parametrize(("algo", "env", "hyper"), [
    ("a2c", PEND, {"n_steps": 8}),
    ("td3", PEND, {"learning_starts": 32, "batch_size": 16, "buffer_size": 500}),
    ("dqn", "CartPole-v1", {"learning_starts": 32, "batch_size": 16, "buffer_size": 500}),
])
def test_freeze_for_other_algorithms(tmp_path, algo, env, hyper):
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train
    from simtransfer.transfer.api import transfer

    raw = {"env": env, "algo": algo, "seed": 0, "checkpoint_every": 0, "progress": False, "total_timesteps": 64,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"}, "hyperparams": hyper,
           "policy": {"net_arch": [16, 16]}}
    train(resolve_train_config(raw, use_defaults=False), tmp_path / "src")
    transfer(tmp_path / "src", env, "freeze", out_dir=tmp_path / "t", timesteps=64, quiet=True,
             options={"layers": ["depth:1"], "reinit_head": True})
    report = json.loads((tmp_path / "t" / "transfer_report.json").read_text())
    src_w, out_w = _weights(tmp_path / "src"), _weights(tmp_path / "t")
    assert report["frozen"] and report["reinitialized"]
    assert all(torch.equal(src_w[n], out_w[n]) for n in report["frozen"])
    if algo in ("td3", "dqn"):
        assert report["targets_synced"]


def test_freeze_depth_skips_a_new_learned_adapter(sources):
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simtransfer.transfer.adapters import LinearObsProjection
    from simtransfer.transfer.methods import get_method
    from simtransfer.transfer.source import SourceRun

    venv = DummyVecEnv([lambda: gym.make(DOUBLE)])
    model = PPO("MlpPolicy", venv, device="cpu", policy_kwargs={
        "net_arch": [16, 16], "features_extractor_class": LinearObsProjection,
        "features_extractor_kwargs": {"preset": "invpendulum_to_invdoublependulum"}})
    for name in ("freeze", "features"):
        m = get_method(name)
        report = m.prepare_model(model, venv, [SourceRun.load(sources["ppo"])], m.parse_options({}))
        assert "features_extractor.proj.weight" in report.new
        assert not any("features_extractor" in n for n in report.frozen)  # the new adapter keeps training
        assert model.policy.features_extractor.proj.weight.requires_grad
        for p in model.policy.parameters():
            p.requires_grad_(True)
    assert get_method("freeze").parse_options({}).depth is None
