"""Keeping what the source knew: frozen normalisation statistics, critic warm-up, the pull toward the source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

PEND = "InvertedPendulumBulletEnv-v0"
TINY = {
    "ppo": {"hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "learning_rate": 0.003},
            "total_timesteps": 128, "policy": {"net_arch": [16, 16]}},
    "sac": {"hyperparams": {"learning_starts": 32, "batch_size": 16, "buffer_size": 500, "learning_rate": 0.003},
            "total_timesteps": 96, "policy": {"net_arch": [16, 16]}},
}
ACTOR = {"ppo": ("mlp_extractor.policy_net.", "action_net.", "log_std"), "sac": ("actor.",)}
CRITIC = {"ppo": ("mlp_extractor.value_net.", "value_net."), "sac": ("critic.qf",)}


def _source(root: Path, algo: str, normalize: bool) -> Path:
    from simtransfer.experiments.config import resolve_train_config
    from simtransfer.experiments.train import train

    raw = {"env": PEND, "algo": algo, "seed": 0, "checkpoint_every": 0, "progress": False,
           "eval": {"every": 0, "episodes": 1}, "tracking": {"mode": "disabled"},
           "normalize": {"enabled": normalize}, **TINY[algo]}
    out = root / f"src_{algo}_{normalize}"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keep_sources")
    return {"ppo": _source(root, "ppo", True), "sac": _source(root, "sac", False)}


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "policy.safetensors"))


def _transfer(src: Path, out: Path, algo: str, steps: int | None = None, **options):
    from simtransfer.transfer.api import transfer

    return transfer(src, PEND, "finetune", out_dir=out, timesteps=steps or TINY[algo]["total_timesteps"], seed=1,
                    quiet=True, options=options, eval_at_start=False)


def _moved(src: dict, out: dict, prefixes: tuple[str, ...]) -> float:
    return max(float((out[k] - src[k]).abs().max()) for k in src if k.startswith(prefixes) and "target" not in k)


def _distance(src: dict, out: dict, prefixes: tuple[str, ...]) -> float:
    """‖w − w_src‖ over the actor's tensors."""
    return sum(float(((out[k] - src[k]) ** 2).sum()) for k in src if k.startswith(prefixes)
               and "target" not in k) ** 0.5


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_statistics_stay_the_sources(sources, tmp_path, frozen):
    src = _tensors(sources["ppo"])
    res = _transfer(sources["ppo"], tmp_path / "ft", "ppo", freeze_obs_stats=frozen, freeze_reward_stats=frozen)
    out = _tensors(tmp_path / "ft")
    for key in ("vecnormalize.obs_rms.mean", "vecnormalize.obs_rms.var", "vecnormalize.ret_rms.var"):
        assert torch.equal(out[key], src[key]) == frozen, key
    assert res.report["normalization"] == "carry"
    assert any("frozen" in n for n in res.report["notes"]) == frozen


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_critic_warmup_keeps_the_actor(sources, tmp_path, algo):
    src = _tensors(sources[algo])
    _transfer(sources[algo], tmp_path / "warm", algo, critic_warmup=10_000)
    warm = _tensors(tmp_path / "warm")
    assert _moved(src, warm, ACTOR[algo]) == 0.0  # the actor is still the source's
    assert _moved(src, warm, CRITIC[algo]) > 0.0  # while the critic learned
    _transfer(sources[algo], tmp_path / "plain", algo, critic_warmup=0)
    assert _moved(src, _tensors(tmp_path / "plain"), ACTOR[algo]) > 0.0


@pytest.mark.parametrize(("algo", "kind"), [("ppo", "kl"), ("ppo", "bc"), ("sac", "kl")])
def test_pull_keeps_the_policy_nearer_the_source(sources, tmp_path, algo, kind):
    src = _tensors(sources[algo])
    steps = {"ppo": 512, "sac": 256}[algo]  # enough updates for the free run to drift
    _transfer(sources[algo], tmp_path / "free", algo, steps, pull_coef=0.0)
    res = _transfer(sources[algo], tmp_path / "pulled", algo, steps, pull_coef=50.0, pull_kind=kind)
    free, pulled = _distance(src, _tensors(tmp_path / "free"), ACTOR[algo]), \
        _distance(src, _tensors(tmp_path / "pulled"), ACTOR[algo])
    assert pulled < 0.5 * free
    assert any("pull toward the source" in n for n in res.report["notes"])


def test_pull_coefficient_decays_linearly():
    from simtransfer.transfer.keep import KeepSource

    keep = KeepSource(model=None, coef=2.0, decay_steps=1000)
    assert [keep.coef_at(t) for t in (0, 500, 1000, 2000)] == [2.0, 1.0, 0.0, 0.0]
    assert KeepSource(model=None, coef=2.0).coef_at(10**6) == 2.0
    assert KeepSource(model=None, coef=0.0, decay_steps=10).coef_at(0) == 0.0


def test_bad_keep_options_are_one_line_errors():
    from simtransfer.envs.errors import SimtransferError
    from simtransfer.transfer.methods import get_method

    for bad in ({"pull_kind": "mse"}, {"critic_warmup": -1}, {"pull_coef": -0.1}):
        with pytest.raises(SimtransferError, match="method 'finetune'"):
            get_method("finetune").parse_options(bad)
    assert np.isclose(get_method("l2sp").parse_options({"pull_coef": 0.5}).pull_coef, 0.5)


def test_bench_default_arms_spell_out_the_code_defaults():
    """The benchmark's ``finetune``/``freeze``/``l2sp`` arms measure the defaults: their options, spelled out so a
    change of default cannot reuse a stale cell, must equal the code's."""
    from simtransfer.experiments.experiment import load_experiment
    from simtransfer.transfer.methods import get_method

    root = Path(__file__).resolve().parents[2]
    cfg = load_experiment(root / "experiments" / "configs" / "bench" / "keep_source.yaml")
    arms = {m.label: m for m in cfg.all_methods()}
    for name in ("finetune", "freeze", "l2sp"):
        defaults = get_method(name).parse_options({}).model_dump()
        assert arms[name].method == name
        assert arms[name].options and all(defaults[k] == v for k, v in arms[name].options.items()), name
        keep = {"freeze_obs_stats", "freeze_reward_stats", "critic_warmup", "pull_coef"}
        assert keep <= set(arms[name].options), name


def test_default_pull_is_skipped_without_an_actor_but_an_explicit_one_is_an_error(tmp_path):
    from stable_baselines3 import DQN

    from simtransfer.envs.errors import SimtransferError
    from simtransfer.transfer.methods import get_method
    from simtransfer.transfer.methods.common import attach_keep
    from simtransfer.transfer.weights import TransferReport

    model = DQN("MlpPolicy", "CartPole-v1", device="cpu", policy_kwargs={"net_arch": [8]})
    method = get_method("finetune")
    report = TransferReport()
    assert attach_keep(model, method.parse_options({}), report) is None
    assert any("has no actor" in n for n in report.notes)
    with pytest.raises(SimtransferError, match="pull_coef need an actor-critic"):
        attach_keep(model, method.parse_options({"pull_coef": 1.0}), TransferReport())


@pytest.mark.parametrize("kind", ["kl", "bc"])
def test_pull_on_discrete_actions(kind):
    from stable_baselines3 import PPO

    from simtransfer.transfer.keep import KeepSource

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    keep = KeepSource.attach(model, coef=1.0, kind=kind)
    model.learn(64)
    assert keep.stats["pull_steps"] == 4 and np.isfinite(keep.stats["last_pull"])
    keep.detach()
    model.learn(32)
    assert keep.stats["pull_steps"] == 4  # detached: no more pulls
