"""The opt-in (``fast=True``) per-rollout cache of frozen-column activations (indexed rollout buffer) and the
staged rollout forward of several towers."""

from __future__ import annotations

import gymnasium as gym
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs)
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer

from simtransfer.transfer.progressive import (
    FrozenRowCache,
    IndexedRolloutBuffer,
    ProgressiveActorCriticPolicy,
    fuse_plans,
    fused_latents,
    use_indexed_rollout_buffer,
)
from tests.transfer.test_progressive import ENV, SMALL, plain_source, progressive_model
from tests.transfer.test_progressive_fast import TOWERS, randomized


def count_fills(monkeypatch) -> dict[str, int]:
    calls = {"fill": 0, "rows": 0}
    fill, rows = FrozenRowCache._fill, FrozenRowCache.rows

    def counted_fill(self, *a):
        calls["fill"] += 1
        return fill(self, *a)

    def counted_rows(self, *a):
        calls["rows"] += 1
        return rows(self, *a)

    monkeypatch.setattr(FrozenRowCache, "_fill", counted_fill)
    monkeypatch.setattr(FrozenRowCache, "rows", counted_rows)
    return calls


def test_frozen_columns_run_once_per_rollout_and_training_is_unchanged(tmp_path, monkeypatch):
    run = plain_source(tmp_path, "ppo")
    calls = count_fills(monkeypatch)
    states = {}
    for cached in (True, False):
        if not cached:
            monkeypatch.setattr(ProgressiveActorCriticPolicy, "_served_rows", lambda self, obs: None)
        model, _, _ = progressive_model("ppo", [run], gym.make(ENV), seed=4, net_arch=[8], fast=True)
        assert isinstance(model.rollout_buffer, IndexedRolloutBuffer)
        model.learn(2 * SMALL["ppo"]["n_steps"])
        states[cached] = model.policy.state_dict()
    per_rollout = SMALL["ppo"]["n_epochs"] * -(-SMALL["ppo"]["n_steps"] // SMALL["ppo"]["batch_size"])
    assert calls == {"fill": 2, "rows": 2 * per_rollout}  # one fill per rollout, one lookup per minibatch
    for k in states[True]:  # one big batch vs many small ones: the same up to float rounding
        torch.testing.assert_close(states[True][k], states[False][k], rtol=1e-5, atol=1e-6)


def test_cache_is_refilled_when_the_frozen_weights_change(tmp_path, monkeypatch):
    run = plain_source(tmp_path, "ppo")
    calls = count_fills(monkeypatch)
    model, _, _ = progressive_model("ppo", [run], gym.make(ENV), net_arch=[8], fast=True)
    model.learn(SMALL["ppo"]["n_steps"])
    assert calls["fill"] == 1
    buffer = model.rollout_buffer
    batch = next(buffer.get(4))  # the same rollout again: cached
    model.policy.evaluate_actions(batch.observations, batch.actions)
    assert calls["fill"] == 1
    state = model.policy.state_dict()
    frozen = [k for k in state if ".columns.0." in k]
    model.policy.load_state_dict({**state, **{k: state[k] + 1.0 for k in frozen}})  # new source weights
    batch = next(buffer.get(4))
    values, _, _ = model.policy.evaluate_actions(batch.observations, batch.actions)
    assert calls["fill"] == 2
    with torch.no_grad():
        monkeypatch.setattr(ProgressiveActorCriticPolicy, "_served_rows", lambda self, obs: None)
        expected, _, _ = model.policy.evaluate_actions(batch.observations, batch.actions)
    torch.testing.assert_close(values.detach(), expected, rtol=1e-5, atol=1e-6)


def test_saved_model_keeps_the_indexed_buffer_and_plain_models_can_use_it(tmp_path):
    run = plain_source(tmp_path, "ppo")
    model, _, _ = progressive_model("ppo", [run], gym.make(ENV), net_arch=[8], fast=True)
    model.save(tmp_path / "prog.zip")
    assert isinstance(PPO.load(tmp_path / "prog.zip", env=gym.make(ENV)).rollout_buffer, IndexedRolloutBuffer)
    plain = PPO("MlpPolicy", gym.make(ENV), **SMALL["ppo"])
    assert type(plain.rollout_buffer) is RolloutBuffer and use_indexed_rollout_buffer(plain)
    plain.learn(SMALL["ppo"]["n_steps"])  # a plain policy ignores the row information
    assert use_indexed_rollout_buffer(model.policy) is False  # a policy has no buffer


def test_the_indexed_buffer_is_opt_in(tmp_path):
    """Without ``fast`` a progressive model keeps SB3's own buffer and recomputes the frozen columns."""
    run = plain_source(tmp_path, "ppo")
    model, _, _ = progressive_model("ppo", [run], gym.make(ENV), net_arch=[8])
    assert type(model.rollout_buffer) is RolloutBuffer and model.policy.fast is False
    assert use_indexed_rollout_buffer(model)  # asked for explicitly: the policy watches it, but fast stays off
    model.learn(SMALL["ppo"]["n_steps"])
    assert model.policy._frozen_cache is None


@pytest.mark.parametrize("name", list(TOWERS))
def test_staged_forward_of_two_towers_matches_each_tower(name):
    in_dim, columns, options = TOWERS[name]
    towers = [randomized(in_dim, columns, options, seed=s) for s in (0, 1)]
    fused = fuse_plans([t._compile() for t in towers], in_dim)
    x = torch.randn(5, in_dim)
    with torch.no_grad():
        for batch in (x[:1], x):
            for got, tower in zip(fused_latents(fused, batch), towers):
                torch.testing.assert_close(got, tower(batch), rtol=1e-5, atol=1e-6)
