"""Progressive towers' compiled forward (same numbers as the module path, follows .to()/loads), and the opt-in
speed-ups (``fast=True``): the fused rollout forward of the pi and vf towers and fused Adam."""

from __future__ import annotations

import gymnasium as gym
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet envs)
import pytest
import torch
from stable_baselines3 import A2C, PPO, SAC

from simtransfer.envs.spec import import_object
from simtransfer.transfer.progressive import (
    ProgressiveMlpExtractor,
    ProgressiveTower,
    load_source_columns,
    progressive_policy_spec,
)
from tests.transfer.test_progressive import ENV, SMALL, plain_source, progressive_model

# frozen columns with an index map and a chain (column 1 takes column 0), adapter width cap, no head lateral
TOWERS = {
    "one_source": (5, [{"arch": [16, 16]}, {"arch": [8, 8]}], {}),
    "chain_maps": (
        6,
        [
            {"arch": [8, 8], "index_map": [0, 1, -1, 3], "in_dim": 4},
            {"arch": [7, 9, 5], "lateral_from": [0], "activation_fn": "relu"},
            {"arch": [6, 6], "activation_fn": "elu"},
        ],
        {"adapter_width": 3},
    ),
    "two_sources_no_head": (3, [{"arch": [8]}, {"arch": [4, 4]}, {"arch": [5, 5, 5]}], {"head_laterals": False}),
}


def randomized(in_dim: int, columns: list[dict], options: dict, seed: int = 0) -> ProgressiveTower:
    torch.manual_seed(seed)
    tower = ProgressiveTower(in_dim, columns, **options)
    with torch.no_grad():
        for t in [*tower.parameters(), *tower.buffers()]:
            if t.dtype.is_floating_point:
                t.normal_(std=0.5)
    return tower


def module_path(tower: ProgressiveTower, x: torch.Tensor) -> torch.Tensor:
    """The last column's latent through the general (per-module) path."""
    inputs = {j: tower.maps[j](x) for j in tower.needed[tower.last]}
    return tower.column_latent(tower.last, inputs)


@pytest.mark.parametrize("name", list(TOWERS))
def test_compiled_forward_is_bit_identical_to_module_path(name):
    tower = randomized(*TOWERS[name])
    x = torch.randn(9, TOWERS[name][0])
    grads = []
    for fn in (tower.forward, lambda v: module_path(tower, v)):
        tower.zero_grad()
        fn(x).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in tower.named_parameters()})
    assert torch.equal(tower(x), module_path(tower, x))
    assert grads[0].keys() == grads[1].keys() and all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])
    with torch.no_grad():  # rollout path: one observation, no graph
        assert torch.equal(tower(x[:1]), module_path(tower, x[:1]))
    xg = x.clone().requires_grad_(True)  # a SAC/TD3 critic's input: the gradient runs through the frozen columns
    g_fast = torch.autograd.grad(tower(xg).sum(), xg)[0]
    g_slow = torch.autograd.grad(module_path(tower, xg).sum(), xg)[0]
    assert torch.equal(g_fast, g_slow) and g_fast.abs().sum() > 0


def test_compiled_forward_follows_dtype_moves_and_assigned_loads():
    tower = randomized(*TOWERS["chain_maps"])
    x = torch.randn(4, 6)
    tower(x)  # compile the plan for float32
    tower.double()
    assert tower(x.double()).dtype == torch.float64
    assert torch.equal(tower(x.double()), module_path(tower, x.double()))
    other = randomized(*TOWERS["chain_maps"], seed=1).double()
    tower.load_state_dict({k: v.clone() for k, v in other.state_dict().items()}, assign=True)  # new tensors
    assert torch.equal(tower(x.double()), other(x.double()))
    with torch.no_grad():  # in-place updates (optimizers, Polyak, load_state_dict) show through the plan
        for p in tower.parameters():
            p.add_(1.0)
    assert torch.equal(tower(x.double()), module_path(tower, x.double()))
    assert not torch.equal(tower(x.double()), other(x.double()))


def test_progressive_ppo_trains_with_fused_adam_like_the_per_tensor_loop(tmp_path):
    run = plain_source(tmp_path, "ppo")
    states, chosen = {}, {}
    variants = {"fast": {"fast": True}, "plain": {},
                "per_tensor": {"fast": True, "optimizer_kwargs": {"eps": 1e-5, "foreach": False}},
                "foreach": {"fast": True, "optimizer_kwargs": {"eps": 1e-5, "foreach": True}}}
    for name, extra in variants.items():
        env = gym.make(ENV)
        path, kwargs = progressive_policy_spec([run], env.observation_space, env.action_space, "ppo", net_arch=[8])
        model = PPO(import_object(path), env, policy_kwargs={**kwargs, **extra}, seed=3, **SMALL["ppo"])
        load_source_columns(model, [run])
        model.learn(128)
        states[name] = model.policy.state_dict()
        chosen[name] = (model.policy.optimizer.defaults["fused"], model.policy.optimizer.defaults["foreach"])
        assert model.policy.optimizer.defaults["eps"] == 1e-5  # SB3's on-policy default is kept
    # fused only when asked for (fast); an explicit foreach choice wins
    assert chosen == {"fast": (True, None), "plain": (None, None), "per_tensor": (None, False), "foreach": (None, True)}
    for k in states["fast"]:  # fused: the same update up to float rounding; foreach: bit for bit
        torch.testing.assert_close(states["fast"][k], states["per_tensor"][k], rtol=1e-5, atol=1e-6)
        assert torch.equal(states["foreach"][k], states["per_tensor"][k])


def test_fused_adam_default_leaves_other_optimizers_and_user_choices(tmp_path):
    run = plain_source(tmp_path, "ppo")
    env = gym.make(ENV)
    path, kwargs = progressive_policy_spec([run], env.observation_space, env.action_space, "a2c", net_arch=[8],
                                           fast=True)
    a2c = A2C(import_object(path), env, policy_kwargs=dict(kwargs), n_steps=8)  # (A2C edits its policy_kwargs)
    assert isinstance(a2c.policy.optimizer, torch.optim.RMSprop) and "fused" not in a2c.policy.optimizer_kwargs
    mine = {**kwargs, "optimizer_kwargs": {"eps": 1e-3}}
    ppo = PPO(import_object(path), env, policy_kwargs=mine, **SMALL["ppo"])
    assert ppo.policy.optimizer.defaults["eps"] == 1e-3 and ppo.policy.optimizer.defaults["fused"] is True
    sac_run = plain_source(tmp_path, "sac", name="sac_src")
    sac, _, _ = progressive_model("sac", [sac_run], gym.make(ENV), net_arch=[8], fast=True)
    assert isinstance(sac, SAC)
    assert sac.actor.optimizer.defaults["fused"] is True and sac.critic.optimizer.defaults["fused"] is True
    plain_sac, _, _ = progressive_model("sac", [sac_run], gym.make(ENV), net_arch=[8])
    assert plain_sac.actor.optimizer.defaults["fused"] is None and plain_sac.policy.fast is False


def extractor(pi_depth_of_source_1: int, fused_rollout: bool = True) -> ProgressiveMlpExtractor:
    """pi/vf towers over 5 obs: two sources (the second with an index map and a lateral from the first)."""
    columns = [
        {"pi": [8, 8], "vf": [6, 6], "obs_dim": 5},
        {"pi": [4] * pi_depth_of_source_1, "vf": [5, 5], "obs_dim": 3, "obs_index_map": [0, 2, -1], "lateral_from": [0]},
    ]
    torch.manual_seed(0)
    ex = ProgressiveMlpExtractor(5, columns, {"pi": [7, 7], "vf": [9, 9]}, "tanh", fused_rollout=fused_rollout,
                                 alpha_init=0.5)
    with torch.no_grad():
        for t in [*ex.parameters(), *ex.buffers()]:
            if t.dtype.is_floating_point:
                t.normal_(std=0.5)
    return ex


def separate(ex: ProgressiveMlpExtractor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return ex.policy_tower(x), ex.value_tower(x)


def test_rollout_forward_runs_both_towers_as_one_and_matches_them():
    ex = extractor(2)
    x = torch.randn(6, 5)
    with torch.no_grad():
        assert ex._fused_plan() is not None
        for batch in (x[:1], x):  # same function; float rounding may differ in the last bit
            for fused, own in zip(ex(batch), separate(ex, batch)):
                torch.testing.assert_close(fused, own, rtol=1e-6, atol=1e-6)
    with_grad = ex(x)  # training: the towers themselves, with their graph
    assert all(a.requires_grad and torch.equal(a, b) for a, b in zip(with_grad, separate(ex, x)))
    with torch.no_grad():  # towers of different depths fuse too: units are staged by their depth
        deeper = extractor(3)
        assert deeper._fused_plan() is not None
        for fused, own in zip(deeper(x), separate(deeper, x)):
            torch.testing.assert_close(fused, own, rtol=1e-6, atol=1e-6)


def test_rollout_fusion_follows_weight_changes():
    ex = extractor(2)
    x = torch.randn(3, 5)
    opt = torch.optim.Adam(ex.parameters(), lr=0.1, foreach=True)

    def check() -> None:
        with torch.no_grad():
            for fused, own in zip(ex(x), separate(ex, x)):
                torch.testing.assert_close(fused, own, rtol=1e-6, atol=1e-6)

    check()
    sum(t.sum() for t in ex(x)).backward()
    opt.step()  # optimizer steps bump the tensors' versions
    check()
    other = extractor(2)
    with torch.no_grad():
        for t in other.parameters():
            t.mul_(-1.0)
    ex.load_state_dict(other.state_dict())
    check()
    ex.value_tower.columns[-1].layers[0].weight.data.zero_()  # .data edits are invisible to versions ...
    ex.train(False)  # ... SB3 switches modes before every rollout, which rebuilds
    check()
