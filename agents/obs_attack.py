"""Adversarial observation perturbations (FGSM / PGD) as an evaluation mode, with uniform noise as the reference.

At every step the attacker sees the observation, and replaces it by the one inside an L∞ ball of radius
``epsilon`` that moves the policy's action distribution furthest from its clean one (KL divergence; the squared
action difference for deterministic actors) -- the "maximal action difference" attack of robust-RL evaluation
(Zhang et al. 2020, SA-PPO; Huang et al. 2017). The attacker has the policy's gradients, the env is unchanged.

``epsilon`` is in the units of what the network sees: AFTER the run's VecNormalize, i.e. in running standard
deviations of each observation dimension (raw units when the run has no VecNormalize). One number then means
the same for a cart position in metres and a joint speed in rad/s, and is comparable across tasks; it is also
the convention of SA-PPO's MuJoCo evaluation. The wrapper itself perturbs the raw observation by
``delta * std`` per dimension, so the run's normalizer, unchanged, hands the network ``x + delta``.

* ``fgsm``: one signed-gradient step of size ``epsilon`` from a uniform random start in the ball (at the clean
  observation the divergence has zero gradient, so a start at 0 would not move; Wong et al. 2020);
* ``pgd``: ``steps`` signed-gradient steps of size ``2.5 * epsilon / steps`` from a uniform random start,
  projected back into the ball, keeping the most divergent iterate (Madry et al. 2018);
* ``uniform``: a uniform random point of the same ball (no gradients: what an attack has to beat).

>>> from simtransfer.agents.obs_attack import evaluate_attack
>>> res = evaluate_attack("runs/pend", "simtransfer/InvertedPendulum-v0", "pgd", epsilon=0.1)  # doctest: +SKIP
>>> res.mean_return, res.cvar_10                                                                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch as th
from torch.distributions import Categorical, Normal, kl_divergence

from simtransfer.agents.evaluation import EvalResult, run_episodes, summarize
from simtransfer.agents.policy_io import LoadedPolicy, check_env_spaces, load_policy
from simtransfer.agents.vecenv import ObsNormalizer, make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, parse_env_spec

ATTACKS = ("fgsm", "pgd", "uniform")
Attack = Literal["fgsm", "pgd", "uniform"]
Divergence = Callable[[th.Tensor, th.Tensor], th.Tensor]


def _gaussian(mean: th.Tensor, log_std: th.Tensor) -> Normal:
    return Normal(mean, th.ones_like(mean) * log_std.exp())


def divergence_fn(model: Any) -> Divergence:
    """``f(x_clean, x_adv)``: how far the action distribution at ``x_adv`` is from the one at ``x_clean``.

    SB3 on-policy policies (PPO, A2C): KL of their action distributions; SAC: KL of the (pre-squash) Gaussians;
    TD3/DDPG: squared action difference; DQN: KL of the softmax over Q-values. A policy without torch
    gradients (e.g. :class:`~simtransfer.agents.evaluation.RandomPolicy`) or with a recurrent state: one line.
    """
    policy = getattr(model, "policy", None)
    if not isinstance(policy, th.nn.Module):
        raise SimtransferError(f"observation attacks need a policy with gradients (a torch policy of a trained run); "
                               f"{type(model).__name__} has none")
    if hasattr(policy, "lstm_actor"):
        raise SimtransferError("observation attacks support feed-forward policies; this one is recurrent")

    def kl(p: Any, q: Any) -> th.Tensor:
        return kl_divergence(p, q).sum()

    def fixed(p: Any) -> Any:  # the clean distribution, out of the gradient
        return Normal(p.loc.detach(), p.scale.detach()) if isinstance(p, Normal) else type(p)(logits=p.logits.detach())

    if hasattr(policy, "get_distribution"):  # ActorCriticPolicy (PPO, A2C)
        def on_policy(x0: th.Tensor, x: th.Tensor) -> th.Tensor:
            p, q = policy.get_distribution(x0).distribution, policy.get_distribution(x).distribution
            if isinstance(p, list):  # MultiDiscrete: one categorical per dimension
                return sum(kl(fixed(a), b) for a, b in zip(p, q))
            return kl(fixed(p), q)  # Gaussian, categorical, Bernoulli
        return on_policy
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "get_action_dist_params"):  # SAC
        def sac(x0: th.Tensor, x: th.Tensor) -> th.Tensor:
            m0, s0, _ = actor.get_action_dist_params(x0)
            m, s, _ = actor.get_action_dist_params(x)
            return kl(_gaussian(m0.detach(), s0.detach()), _gaussian(m, s))
        return sac
    if actor is not None:  # TD3 / DDPG: deterministic actor
        return lambda x0, x: ((actor(x) - actor(x0).detach()) ** 2).sum()
    q_net = getattr(policy, "q_net", None)
    if q_net is not None:  # DQN
        return lambda x0, x: kl(Categorical(logits=q_net(x0).detach()), Categorical(logits=q_net(x)))
    raise SimtransferError(f"observation attacks do not know how to differentiate a {type(policy).__name__}")


class AdversarialObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace each observation by a bounded adversarial one (``fgsm``/``pgd``) or a uniformly noisy one
    (``uniform``), ``epsilon`` in the units the network sees (after the run's VecNormalize; module docstring).

    >>> import gymnasium as gym
    >>> from stable_baselines3 import PPO
    >>> env = gym.make("CartPole-v1")
    >>> model = PPO("MlpPolicy", env, seed=0, device="cpu")
    >>> attacked = AdversarialObservation(env, model, "pgd", epsilon=0.05, steps=3)
    >>> obs, _ = attacked.reset(seed=0)
    >>> clean, _ = env.reset(seed=0)
    >>> bool(abs(obs - clean).max() <= 0.05 + 1e-6)
    True
    """

    def __init__(self, env: gym.Env, model: Any, attack: Attack = "pgd", epsilon: float = 0.1, steps: int = 10,
                 normalizer: ObsNormalizer | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, attack=attack, epsilon=epsilon, steps=steps)
        gym.ObservationWrapper.__init__(self, env)
        if attack not in ATTACKS:
            raise SimtransferError(f"unknown attack '{attack}' (choose from {', '.join(ATTACKS)})")
        if not epsilon > 0:
            raise SimtransferError(f"attack epsilon must be > 0, got {epsilon:g}")
        if steps < 1:
            raise SimtransferError(f"attack steps must be at least 1, got {steps}")
        if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
            raise SimtransferError("observation attacks need a flat Box observation space, got "
                                   f"{env.observation_space}")
        self.attack, self.epsilon, self.steps = attack, float(epsilon), int(steps)
        self.model, self.normalizer = model, normalizer
        self._div = divergence_fn(model) if attack != "uniform" else None
        if normalizer is not None:
            self._scale = np.sqrt(np.asarray(normalizer.var, dtype=np.float64) + normalizer.epsilon)
        else:
            self._scale = np.ones(env.observation_space.shape, dtype=np.float64)

    def _seen(self, obs: np.ndarray) -> np.ndarray:
        """What the network sees for a raw observation."""
        return self.normalizer(obs) if self.normalizer is not None else np.asarray(obs, dtype=np.float32)

    def _delta(self, x: np.ndarray) -> np.ndarray:
        eps = self.epsilon
        start = self.np_random.uniform(-eps, eps, size=x.shape)
        if self.attack == "uniform":
            return start
        assert self._div is not None
        device = self.model.policy.device
        x0 = th.as_tensor(x[None], dtype=th.float32, device=device)
        delta = th.as_tensor(start[None], dtype=th.float32, device=device)
        n, alpha = (1, eps) if self.attack == "fgsm" else (self.steps, 2.5 * eps / self.steps)
        best, best_div = delta.clone(), -np.inf
        for i in range(n + 1):
            delta.requires_grad_(True)
            div = self._div(x0, x0 + delta)
            if float(div.detach()) > best_div:
                best, best_div = delta.detach().clone(), float(div.detach())
            if i == n:
                break
            (grad,) = th.autograd.grad(div, delta)
            delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        return best[0].cpu().numpy().astype(np.float64)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        x = self._seen(observation)
        with th.enable_grad():
            delta = self._delta(np.asarray(x, dtype=np.float64))
        return (np.asarray(observation, dtype=np.float64) + delta * self._scale).astype(observation.dtype)


def evaluate_attack(run: str | Path | LoadedPolicy, target: str | dict[str, Any] | EnvSpec, attack: Attack,
                    epsilon: float, *, steps: int = 10, episodes: int = 10, seed: int = 0) -> EvalResult:
    """Score ``run`` on ``target`` with every observation attacked (the same seeded episodes as ``evaluate``).

    :param attack: ``fgsm``, ``pgd`` or ``uniform`` (noise of the same L∞ bound)
    :param epsilon: L∞ bound, after the run's VecNormalize (> 0)
    :param steps: PGD iterations
    """
    if episodes < 1:
        raise SimtransferError(f"episodes must be at least 1, got {episodes}")
    policy = run if isinstance(run, LoadedPolicy) else load_policy(run)
    spec = parse_env_spec(target)
    env = make_single_env(spec, policy.config.adapters, seed=seed)
    try:
        check_env_spaces(policy, env, spec.id)
        attacked = AdversarialObservation(env, policy.model, attack, epsilon, steps, normalizer=policy.normalizer)
        returns, lengths = run_episodes(attacked, policy.model, episodes=episodes, seed=seed,
                                        normalizer=policy.normalizer)
    finally:
        env.close()
    return summarize(spec.name or spec.id, returns, lengths)
