"""Block names and depth selectors for every SB3 algorithm we support."""

from __future__ import annotations

import pytest
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.layers import block_map, chains, is_target_param, select_parameters

PENDULUM = "InvertedPendulumBulletEnv-v0"


def _model(algo: type, env: str):
    import gymnasium as gym
    import pybullet_envs_gymnasium  # noqa: F401

    kwargs = {"learning_starts": 10, "buffer_size": 1000} if algo in (SAC, TD3, DQN) else {}
    return algo("MlpPolicy", gym.make(env), device="cpu", seed=0, **kwargs)


@pytest.mark.parametrize(
    ("algo", "env", "actor", "critic"),
    [
        (PPO, PENDULUM, ["pi.0", "pi.1", "action_head"], ["vf.0", "vf.1", "value_head"]),
        (A2C, PENDULUM, ["pi.0", "pi.1", "action_head"], ["vf.0", "vf.1", "value_head"]),
        (SAC, PENDULUM, ["actor.0", "actor.1", "action_head"], ["critic.0", "critic.1", "value_head"]),
        (TD3, PENDULUM, ["actor.0", "actor.1", "action_head"], ["critic.0", "critic.1", "value_head"]),
        (DQN, "CartPole-v1", None, ["q.0", "q.1", "value_head"]),
    ],
)
def test_chains_and_blocks(algo, env, actor, critic):
    model = _model(algo, env)
    seqs = chains(model.policy)
    assert seqs.get("actor") == actor
    assert seqs["critic"] == critic
    blocks = block_map(model.policy)
    named = [n for n, _ in model.policy.named_parameters()]
    covered = [n for ns in blocks.values() for n in ns]
    assert sorted(covered) == sorted(n for n in named if not is_target_param(n))  # every online param, once
    assert "other" not in blocks


def test_specific_parameter_names():
    ppo, sac, td3, dqn = (_model(PPO, PENDULUM), _model(SAC, PENDULUM), _model(TD3, PENDULUM),
                          _model(DQN, "CartPole-v1"))
    assert block_map(ppo.policy)["pi.1"] == ["mlp_extractor.policy_net.2.weight", "mlp_extractor.policy_net.2.bias"]
    assert set(block_map(ppo.policy)["action_head"]) == {"log_std", "action_net.weight", "action_net.bias"}
    assert set(block_map(sac.policy)["action_head"]) == {"actor.mu.weight", "actor.mu.bias", "actor.log_std.weight",
                                                         "actor.log_std.bias"}
    assert "critic.qf1.4.weight" in block_map(sac.policy)["value_head"]
    assert block_map(td3.policy)["action_head"] == ["actor.mu.4.weight", "actor.mu.4.bias"]
    assert block_map(dqn.policy)["q.1"] == ["q_net.q_net.2.weight", "q_net.q_net.2.bias"]


def test_selectors():
    model = _model(SAC, PENDULUM)
    depth1 = select_parameters(model.policy, ["depth:1"])
    assert depth1 == ["actor.latent_pi.0.weight", "actor.latent_pi.0.bias", "critic.qf0.0.weight",
                      "critic.qf0.0.bias", "critic.qf1.0.weight", "critic.qf1.0.bias"]
    assert select_parameters(model.policy, ["actor.latent_pi.*"]) == [
        "actor.latent_pi.0.weight", "actor.latent_pi.0.bias", "actor.latent_pi.2.weight", "actor.latent_pi.2.bias"]
    heads = set(select_parameters(model.policy, ["heads"]))
    trunk = set(select_parameters(model.policy, ["trunk"]))
    assert heads and trunk and not heads & trunk
    assert heads | trunk == set(select_parameters(model.policy, ["all"]))
    assert not any(is_target_param(n) for n in select_parameters(model.policy, ["all"]))
    assert set(select_parameters(model.policy, ["actor"])) == {n for n in heads | trunk if n.startswith("actor.")}


def test_unknown_selector_is_one_line_error():
    model = _model(PPO, PENDULUM)
    with pytest.raises(SimtransferError, match="layer selector 'bogus.7' matches no parameter"):
        select_parameters(model.policy, ["bogus.7"])
