"""FGSM/PGD observation attacks: bounded, deterministic, stronger than noise of the same bound; one-line errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simtransfer.agents.evaluation import RandomPolicy
from simtransfer.agents.obs_attack import AdversarialObservation, divergence_fn, evaluate_attack
from simtransfer.agents.policy_io import load_policy
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.evaluate import evaluate_run
from simtransfer.experiments.train import train
from tests.agents.runs import tiny_config

TARGET = "CartPole-v1"


@pytest.fixture(scope="module")
def cart_run(tmp_path_factory):
    """PPO that balances CartPole for a while (seeded, about 10 s), with VecNormalize."""
    cfg = tiny_config("ppo", total_timesteps=6144, normalize=True, n_envs=4, policy={"net_arch": [32, 32]},
                      hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 8, "learning_rate": 3e-3,
                                   "gae_lambda": 0.8, "gamma": 0.98}, eval={"every": 0, "episodes": 1})
    return train(cfg, tmp_path_factory.mktemp("attack") / "run").run_dir


def test_pgd_hurts_more_than_uniform_noise_of_the_same_bound(cart_run):
    clean = evaluate_run(cart_run, TARGET, episodes=4, seed=0)
    assert clean.mean_return > 100                                     # the policy has learned something
    eps = 2.0  # running stds: noise this large barely matters to this policy, a worst case within it does
    noise = evaluate_attack(cart_run, TARGET, "uniform", eps, episodes=4, seed=0)
    pgd = evaluate_attack(cart_run, TARGET, "pgd", eps, steps=5, episodes=4, seed=0)
    fgsm = evaluate_attack(cart_run, TARGET, "fgsm", eps, episodes=4, seed=0)
    assert pgd.mean_return < 0.5 * noise.mean_return                  # gradients find what noise does not
    assert pgd.target == noise.target == TARGET
    assert fgsm.mean_return < noise.mean_return
    assert pgd.returns == evaluate_attack(cart_run, TARGET, "pgd", eps, steps=5, episodes=4, seed=0).returns


def test_perturbation_is_bounded_in_normalized_units(cart_run):
    policy = load_policy(cart_run)
    env = gym.make(TARGET)
    attacked = AdversarialObservation(env, policy.model, "pgd", epsilon=0.2, steps=3, normalizer=policy.normalizer)
    raw, _ = env.reset(seed=1)                                          # the same initial state
    obs, _ = attacked.reset(seed=1)
    moved = np.abs(policy.normalizer(obs) - policy.normalizer(raw))
    assert moved.max() <= 0.2 + 1e-4 and moved.max() > 0.1           # at the bound (sign steps), not beyond
    scale = np.sqrt(policy.normalizer.var + policy.normalizer.epsilon)
    assert np.all(np.abs(obs - raw) <= 0.2 * scale + 1e-5)             # raw units: epsilon * running std


@pytest.mark.parametrize("kwargs,match", [
    ({"epsilon": 0.0}, "epsilon must be > 0"),
    ({"epsilon": -0.1}, "epsilon must be > 0"),
    ({"attack": "cw"}, "unknown attack 'cw'"),
    ({"steps": 0}, "steps must be at least 1"),
])
def test_bad_attack_settings_are_one_line(cart_run, kwargs, match):
    args = {"attack": "pgd", "epsilon": 0.1, **kwargs}
    with pytest.raises(SimtransferError, match=match) as info:
        evaluate_attack(cart_run, TARGET, args.pop("attack"), args.pop("epsilon"), episodes=1, **args)
    assert "\n" not in str(info.value)


def test_a_policy_without_gradients_cannot_be_attacked():
    env = gym.make(TARGET)
    with pytest.raises(SimtransferError, match="need a policy with gradients.*RandomPolicy has none"):
        AdversarialObservation(env, RandomPolicy(env.action_space, seed=0), "fgsm", epsilon=0.1)
    with pytest.raises(SimtransferError, match="need a policy with gradients"):
        divergence_fn(object())
    # uniform noise needs no gradients: it is the reference any policy can be scored against
    AdversarialObservation(env, RandomPolicy(env.action_space, seed=0), "uniform", epsilon=0.1)


@pytest.mark.parametrize("algo", ["sac", "dqn"])
def test_other_algorithms_are_differentiable(tmp_path, algo):
    run = train(tiny_config(algo), tmp_path / "run").run_dir
    policy = load_policy(run)
    env = gym.make(policy.config.env.id)
    attacked = AdversarialObservation(env, policy.model, "pgd", epsilon=0.1, steps=2)
    obs, _ = attacked.reset(seed=0)
    clean, _ = env.reset(seed=0)
    assert 0 < np.abs(obs - clean).max() <= 0.1 + 1e-6
