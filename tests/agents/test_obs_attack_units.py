"""Observation attacks without training (untrained SB3 models, seconds): what each algorithm's divergence is, that
an attack never ends weaker than its random start, uniform noise fills the ball, and the inputs it refuses."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN, PPO, SAC, TD3
from torch.distributions import Categorical, Normal, kl_divergence

from simtransfer.agents.obs_attack import AdversarialObservation, divergence_fn, evaluate_attack
from simtransfer.agents.vecenv import ObsNormalizer
from simtransfer.envs.errors import SimtransferError


def _model(cls: Any, env_id: str = "Pendulum-v1") -> Any:
    small = {} if cls is PPO else {"buffer_size": 100}  # no million-step replay buffer to allocate
    return cls("MlpPolicy", gym.make(env_id), seed=0, device="cpu", **small)


def _points(dim: int, seed: int = 0) -> tuple[th.Tensor, th.Tensor]:
    g = th.Generator().manual_seed(seed)
    x0 = th.randn(1, dim, generator=g)
    return x0, x0 + 0.5 * th.randn(1, dim, generator=g)


def test_td3_divergence_is_the_squared_action_difference():
    model = _model(TD3)
    actor, div = model.policy.actor, divergence_fn(model)
    x0, x = _points(3)
    x0.requires_grad_(True)
    value = div(x0, x)
    assert float(value) == pytest.approx(float(((actor(x) - actor(x0)) ** 2).sum()), rel=1e-6)
    assert float(value) > 0 and float(div(x0, x0)) == 0.0
    value.backward()
    assert x0.grad is None or not x0.grad.any()  # the clean action is a constant of the attack


def test_sac_divergence_is_the_kl_of_the_pre_squash_gaussians():
    model = _model(SAC)
    actor, div = model.policy.actor, divergence_fn(model)
    x0, x = _points(3)
    m0, s0, _ = actor.get_action_dist_params(x0)
    m, s, _ = actor.get_action_dist_params(x)
    expected = kl_divergence(Normal(m0, s0.exp()), Normal(m, s.exp())).sum()
    assert float(div(x0, x)) == pytest.approx(float(expected), rel=1e-5) and float(expected) > 0
    assert float(div(x0, x0)) == pytest.approx(0.0, abs=1e-7)


def test_on_policy_and_dqn_divergences_are_kls_of_their_action_distributions():
    ppo = _model(PPO)
    x0, x = _points(3)
    p, q = ppo.policy.get_distribution(x0).distribution, ppo.policy.get_distribution(x).distribution
    assert float(divergence_fn(ppo)(x0, x)) == pytest.approx(float(kl_divergence(p, q).sum()), rel=1e-5)
    dqn = _model(DQN, "CartPole-v1")
    x0, x = _points(4)
    q_net = dqn.policy.q_net
    expected = kl_divergence(Categorical(logits=q_net(x0)), Categorical(logits=q_net(x))).sum()
    assert float(divergence_fn(dqn)(x0, x)) == pytest.approx(float(expected), rel=1e-5) and float(expected) > 0


class _Multi(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 2])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, True, False, {}


def test_multidiscrete_divergence_sums_one_kl_per_dimension():
    model = PPO("MlpPolicy", _Multi(), seed=0, device="cpu")
    x0, x = _points(3)
    p, q = model.policy.get_distribution(x0).distribution, model.policy.get_distribution(x).distribution
    assert isinstance(p, list) and len(p) == 2
    expected = sum(float(kl_divergence(a, b).sum()) for a, b in zip(p, q))
    assert float(divergence_fn(model)(x0, x)) == pytest.approx(expected, rel=1e-5) and expected > 0


def test_policies_it_cannot_differentiate_are_one_line_errors():
    from sb3_contrib import RecurrentPPO

    with pytest.raises(SimtransferError, match="support feed-forward policies; this one is recurrent"):
        divergence_fn(RecurrentPPO("MlpLstmPolicy", gym.make("CartPole-v1"), seed=0, device="cpu"))

    class Bare:
        policy = th.nn.Linear(3, 1)

    with pytest.raises(SimtransferError, match="do not know how to differentiate a Linear"):
        divergence_fn(Bare())


@pytest.mark.parametrize("env", [lambda: gym.make("FrozenLake-v1"),
                                 lambda: gym.wrappers.ReshapeObservation(gym.make("CartPole-v1"), (2, 2))])
def test_a_non_flat_observation_is_a_one_line_error(env):
    with pytest.raises(SimtransferError, match="need a flat Box observation space") as info:
        AdversarialObservation(env(), None, "uniform", epsilon=0.1)
    assert "\n" not in str(info.value)


def test_episodes_below_one_are_refused_before_anything_loads(tmp_path):
    with pytest.raises(SimtransferError, match="episodes must be at least 1, got 0"):
        evaluate_attack(tmp_path / "no-run", "CartPole-v1", "pgd", 0.1, episodes=0)


def _deltas(attack: str, model: Any, x: np.ndarray, n: int, **kwargs: Any) -> np.ndarray:
    env = gym.make("Pendulum-v1")
    wrapped = AdversarialObservation(env, model, attack, **kwargs)
    wrapped.reset(seed=7)  # the same random starts for every attack
    return np.array([wrapped.observation(x) - x for _ in range(n)], dtype=np.float64)


def test_an_attack_never_ends_weaker_than_its_random_start_and_stays_in_the_ball():
    """FGSM and PGD start from the draw uniform noise makes (same seed); the gradient steps can only raise the
    divergence, within the L-infinity ball."""
    model = _model(PPO)
    div = divergence_fn(model)
    x = np.array([0.6, -0.8, 0.3])

    def strength(delta: np.ndarray) -> float:
        x0 = th.as_tensor(x[None], dtype=th.float32)
        return float(div(x0, x0 + th.as_tensor(delta[None], dtype=th.float32)))

    start = _deltas("uniform", model, x, 5, epsilon=0.5)
    for attack, steps in (("fgsm", 4), ("pgd", 4), ("pgd", 1)):  # one PGD step is allowed
        moved = _deltas(attack, model, x, 5, epsilon=0.5, steps=steps)
        assert np.abs(moved).max() <= 0.5 + 1e-6
        gains = [strength(m) - strength(s) for m, s in zip(moved, start)]
        assert min(gains) >= -1e-6 and max(gains) > 0, (attack, steps)
    pgd = _deltas("pgd", model, x, 5, epsilon=0.5, steps=4)
    assert np.mean([strength(d) for d in pgd]) > 2 * np.mean([strength(d) for d in start])
    fgsm = _deltas("fgsm", model, x, 5, epsilon=0.5, steps=1)
    np.testing.assert_array_equal(fgsm, _deltas("fgsm", model, x, 5, epsilon=0.5, steps=7))  # one step, always


def test_fgsm_is_one_signed_gradient_step_of_epsilon_from_the_random_start():
    """The definition, coordinate by coordinate: start s (uniform in the ball), s + eps * sign(grad) clipped to the
    ball, and the more divergent of the two."""
    model = _model(PPO)
    div, eps, x = divergence_fn(model), 0.5, np.array([0.6, -0.8, 0.3])
    x0 = th.as_tensor(x[None], dtype=th.float32)

    def strength(delta: np.ndarray) -> float:
        return float(div(x0, x0 + th.as_tensor(delta[None], dtype=th.float32)))

    starts = _deltas("uniform", model, x, 5, epsilon=eps)
    for start, got in zip(starts, _deltas("fgsm", model, x, 5, epsilon=eps)):
        delta = th.as_tensor(start[None], dtype=th.float32).requires_grad_(True)
        (grad,) = th.autograd.grad(div(x0, x0 + delta), delta)
        step = np.clip(start + eps * np.sign(grad.numpy()[0]), -eps, eps)
        np.testing.assert_allclose(got, step if strength(step) > strength(start) else start, atol=1e-6)


def test_uniform_noise_fills_the_ball_in_normalized_units():
    """Uniform noise of epsilon 0.1 in normalized units: +-0.1 * std in raw units (std 2, 0.5 and, for an
    observation that never varied, the normalizer's sqrt(epsilon))."""
    normalizer = ObsNormalizer(np.zeros(3), np.array([4.0, 0.25, 0.0]), clip_obs=10.0, epsilon=1e-8)
    deltas = _deltas("uniform", None, np.zeros(3), 2000, epsilon=0.1, normalizer=normalizer)
    bound = 0.1 * np.array([2.0, 0.5, 1e-4])
    assert np.all(np.abs(deltas) <= bound + 1e-6)
    np.testing.assert_allclose(deltas.min(axis=0), -bound, rtol=0.02)
    np.testing.assert_allclose(deltas.max(axis=0), bound, rtol=0.02)
    np.testing.assert_allclose(deltas.mean(axis=0), 0.0, atol=0.05 * bound.max())
