"""Loading by name/shape with key maps, freezing that really holds, target sync, learning-rate scales."""

from __future__ import annotations

import gymnasium as gym
import pybullet_envs_gymnasium  # noqa: F401
import pytest
import torch
from stable_baselines3 import PPO, SAC, TD3

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.weights import (
    freeze,
    layerwise_scales,
    load_weights,
    map_key,
    optimizer_parameter_names,
    rebuild_optimizers,
    sync_targets,
)

PEND, DOUBLE = "InvertedPendulumBulletEnv-v0", "InvertedDoublePendulumBulletEnv-v0"


def _ppo(env: str = PEND, seed: int = 0, **kw) -> PPO:
    return PPO("MlpPolicy", gym.make(env), device="cpu", seed=seed, n_steps=128, batch_size=64, n_epochs=2, **kw)


def _sac(seed: int = 0, **kw) -> SAC:
    kw.setdefault("policy_kwargs", {"net_arch": [32, 32]})
    return SAC("MlpPolicy", gym.make(PEND), device="cpu", seed=seed, learning_starts=64, buffer_size=2000,
               batch_size=32, **kw)


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.policy.named_parameters()}


def test_full_load_copies_every_online_tensor():
    src, tgt = _ppo(seed=1), _ppo(seed=2)
    report = load_weights(tgt.policy, src.policy.state_dict(), strict=True)
    assert sorted(report.loaded) == sorted(src.policy.state_dict())
    assert not report.new and not report.skipped_shape and not report.skipped_unused
    for n, t in src.policy.state_dict().items():
        assert torch.equal(t, tgt.policy.state_dict()[n])


def test_partial_load_reports_shape_mismatch_and_new():
    src, tgt = _ppo(PEND, seed=1), _ppo(DOUBLE, seed=2)  # obs 5 vs 9: first layers differ
    before = tgt.policy.state_dict()["mlp_extractor.policy_net.0.weight"].clone()
    report = load_weights(tgt.policy, src.policy.state_dict())
    mismatched = {s["target"] for s in report.skipped_shape}
    assert mismatched == {"mlp_extractor.policy_net.0.weight", "mlp_extractor.value_net.0.weight"}
    assert {"source_shape": [64, 5], "target_shape": [64, 9]}.items() <= report.skipped_shape[0].items()
    assert sorted(report.new) == sorted(mismatched)
    assert len(report.loaded) == len(src.policy.state_dict()) - 2
    assert torch.equal(tgt.policy.state_dict()["mlp_extractor.policy_net.0.weight"], before)
    assert torch.equal(tgt.policy.state_dict()["action_net.weight"], src.policy.state_dict()["action_net.weight"])
    with pytest.raises(SimtransferError, match=r"source shape \(64, 5\) != target shape \(64, 9\)"):
        load_weights(_ppo(DOUBLE).policy, src.policy.state_dict(), strict=True)


def test_key_maps_prefix_and_regex():
    assert map_key("mlp_extractor.policy_net.0.weight", {"mlp_extractor.policy_net.": "actor.latent_pi."}) == \
        "actor.latent_pi.0.weight"
    assert map_key("critic.qf0.2.bias", [(r"qf(\d)", r"q\1"), ("^critic", "c")]) == "c.q0.2.bias"
    # PPO actor trunk -> SAC actor trunk (same hidden sizes), by a prefix map
    ppo = _ppo(seed=1, policy_kwargs={"net_arch": [32, 32]})
    sac = _sac()
    report = load_weights(sac.policy, ppo.policy.state_dict(), key_map={"mlp_extractor.policy_net.": "actor.latent_pi."})
    assert report.renamed["actor.latent_pi.2.weight"] == "mlp_extractor.policy_net.2.weight"
    assert torch.equal(sac.policy.actor.latent_pi[2].weight, ppo.policy.mlp_extractor.policy_net[2].weight)
    assert "value_net.weight" in report.skipped_unused
    with pytest.raises(SimtransferError, match="bad key map regex"):
        map_key("a", [("(", "b")])


def test_sync_targets_after_loading():
    src, tgt = _sac(seed=1), _sac(seed=2)
    load_weights(tgt.policy, src.policy.state_dict())
    assert not torch.equal(tgt.policy.critic_target.qf0[0].weight, tgt.policy.critic.qf0[0].weight)
    assert sync_targets(tgt) == ["critic_target"]
    for a, b in zip(tgt.policy.critic.parameters(), tgt.policy.critic_target.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("make", [
    lambda: _ppo(policy_kwargs={"optimizer_kwargs": {"weight_decay": 0.1}}),
    lambda: _sac(policy_kwargs={"net_arch": [32, 32], "optimizer_kwargs": {"weight_decay": 0.1}}),
], ids=["ppo", "sac"])
def test_frozen_bit_identical_unfrozen_changed(make):
    model = make()
    frozen = freeze(model, ["depth:1"])
    assert frozen and not set(frozen) & optimizer_parameter_names(model)
    before = _snapshot(model)
    model.learn(128)
    after = _snapshot(model)
    for n in before:
        if n in frozen:
            assert torch.equal(before[n], after[n]), n  # bit-identical despite Adam weight decay
    changed = [n for n in before if n not in frozen and not torch.equal(before[n], after[n])]
    assert any("latent_pi.2" in n or "policy_net.2" in n for n in changed)


def test_freeze_everything_is_an_error():
    with pytest.raises(SimtransferError, match="leaves nothing to train"):
        freeze(_ppo(), ["all"])


def test_td3_freeze_whole_actor_keeps_optimizer_usable():
    td3 = TD3("MlpPolicy", gym.make(PEND), device="cpu", seed=0, learning_starts=64, buffer_size=2000,
              batch_size=32, policy_kwargs={"net_arch": [16, 16]})
    freeze(td3, ["actor"])
    before = _snapshot(td3)
    td3.learn(100)
    after = _snapshot(td3)
    assert all(torch.equal(before[n], after[n]) for n in before if n.startswith("actor."))
    assert not torch.equal(before["critic.qf0.0.weight"], after["critic.qf0.0.weight"])


def test_lr_scales_apply_on_top_of_the_schedule():
    model = _ppo()
    scales = {n: 0.0 for n, _ in model.policy.named_parameters() if n.startswith("mlp_extractor.policy_net.0")}
    rebuild_optimizers(model, scales)
    assert {g["lr_scale"] for g in model.policy.optimizer.param_groups} == {0.0, 1.0}
    before = _snapshot(model)
    model.learn(256)
    after = _snapshot(model)
    assert torch.equal(before["mlp_extractor.policy_net.0.weight"], after["mlp_extractor.policy_net.0.weight"])
    assert not torch.equal(before["mlp_extractor.policy_net.2.weight"], after["mlp_extractor.policy_net.2.weight"])
    assert all(g["lr"] == pytest.approx(3e-4) for g in model.policy.optimizer.param_groups)  # schedule untouched


def test_layerwise_decay():
    model = _ppo()
    scales = layerwise_scales(model.policy, 0.5)
    assert scales["action_net.weight"] == 1.0 and scales["value_net.bias"] == 1.0
    assert scales["mlp_extractor.policy_net.2.weight"] == 0.5
    assert scales["mlp_extractor.value_net.0.bias"] == 0.25
