"""L2-SP gradient hooks add exactly the analytic gradient of α/2‖w−w_src‖² + β/2‖w_new‖²."""

from __future__ import annotations

import torch
from stable_baselines3 import PPO, SAC
from torch import nn

from simtransfer.transfer.l2sp import L2SP
from simtransfer.transfer.weights import load_weights


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def test_gradient_equals_analytic():
    alpha, beta = 0.3, 0.05
    net = _net()
    anchors = {"0.weight", "0.bias"}  # layer 2 plays the "new layer"
    reg = L2SP.attach(net, anchors, alpha=alpha, beta=beta)
    source = {n: p.detach().clone() for n, p in net.named_parameters()}
    with torch.no_grad():  # fine-tuning moved the weights away from the source
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(16, 4)

    net.zero_grad()
    net(x).pow(2).sum().backward()
    hooked = {n: p.grad.clone() for n, p in net.named_parameters()}

    reg.detach()
    net.zero_grad()
    params = dict(net.named_parameters())
    loss = net(x).pow(2).sum()
    loss = loss + alpha / 2 * sum(((params[n] - source[n]) ** 2).sum() for n in anchors)
    loss = loss + beta / 2 * sum((p ** 2).sum() for n, p in params.items() if n not in anchors)
    loss.backward()
    for n, p in net.named_parameters():
        torch.testing.assert_close(hooked[n], p.grad, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        expected = alpha / 2 * sum(float(((params[n] - source[n]) ** 2).sum()) for n in anchors) + beta / 2 * sum(
            float((p ** 2).sum()) for n, p in params.items() if n not in anchors)
    assert abs(reg.penalty() - expected) < 1e-6


def test_no_penalty_gradient_at_the_source():
    net = _net()
    reg = L2SP.attach(net, {n for n, _ in net.named_parameters()}, alpha=5.0)
    x = torch.randn(8, 4)
    net(x).sum().backward()
    with_hook = [p.grad.clone() for p in net.parameters()]
    reg.detach()
    net.zero_grad()
    net(x).sum().backward()
    for a, p in zip(with_hook, net.parameters()):
        torch.testing.assert_close(a, p.grad)  # w == w_src: the pull is zero


def test_ppo_policy_loss_gradient_and_training_stays_close():
    import gymnasium as gym
    import pybullet_envs_gymnasium  # noqa: F401

    src = PPO("MlpPolicy", gym.make("InvertedPendulumBulletEnv-v0"), device="cpu", seed=1, n_steps=128,
              batch_size=64)
    free = PPO("MlpPolicy", gym.make("InvertedPendulumBulletEnv-v0"), device="cpu", seed=2, n_steps=128,
               batch_size=64, learning_rate=3e-3)
    tied = PPO("MlpPolicy", gym.make("InvertedPendulumBulletEnv-v0"), device="cpu", seed=2, n_steps=128,
               batch_size=64, learning_rate=3e-3)
    source = src.policy.state_dict()
    for m in (free, tied):
        load_weights(m.policy, source)
    reg = L2SP.attach(tied.policy, [n for n, _ in tied.policy.named_parameters()], alpha=50.0)
    reg_free = L2SP.attach(free.policy, [n for n, _ in free.policy.named_parameters()], alpha=0.0)
    free.learn(256)
    tied.learn(256)
    assert 0 < reg.distance() < reg_free.distance()  # the pull keeps the weights nearer the source


def test_sac_hooks_skip_targets_and_frozen():
    sac = SAC("MlpPolicy", "Pendulum-v1", device="cpu", seed=0, buffer_size=1000)
    sac.policy.actor.latent_pi[0].weight.requires_grad_(False)
    reg = L2SP.attach(sac.policy, [n for n, _ in sac.policy.named_parameters()], alpha=1.0, beta=1.0)
    assert "actor.latent_pi.0.weight" not in reg.anchored
    assert not any("_target" in n for n in list(reg.anchored) + list(reg.new))
    assert reg.handles
