"""Teacher-student distillation (DAgger) of a state policy into a pixel (CNN) policy.

The teacher acts on the privileged simulator state (``info["state"]`` of :class:`simtransfer.envs.pixels.PixelObservation`),
the student only on images. DAgger (Ross et al., 2011): roll out a mixture that follows the teacher with
probability ``beta`` (decaying per iteration) and the student otherwise, label every visited image with the
teacher's action, and regress the student's deterministic action on all labels gathered so far. The student
is an SB3 model (e.g. ``PPO("CnnPolicy", env, policy_kwargs={"features_extractor_class": SmallCNN})``), so it
can be evaluated, saved, or fine-tuned with RL afterwards like any other.

>>> from simtransfer.agents.distill import dagger, teacher_from_model                           # doctest: +SKIP
>>> history = dagger(student, pixel_env, teacher_from_model(state_model, normalizer), iterations=8)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from simtransfer.envs.errors import SimtransferError

Teacher = Callable[[np.ndarray], np.ndarray]


def teacher_from_model(model: Any, normalizer: Callable[[np.ndarray], np.ndarray] | None = None) -> Teacher:
    """A teacher function ``state -> action`` from an SB3 state policy (and its frozen obs normalizer)."""

    def act(state: np.ndarray) -> np.ndarray:
        obs = normalizer(state) if normalizer is not None else state
        action, _ = model.predict(obs, deterministic=True)
        return np.asarray(action, dtype=np.float32)

    return act


def pendulum_pd_teacher(state: np.ndarray) -> np.ndarray:
    """A hand-written PD controller on the InvertedPendulum state ``[x, vx, cos, sin, theta_dot]``: balances
    the nominal Bullet pendulum for the full 1000 steps (seeds 0-2, measured). A cheap privileged teacher."""
    x, vx, _, sin, theta_dot = (float(v) for v in np.asarray(state, dtype=np.float64)[:5])
    return np.clip(np.array([10.0 * sin + 1.0 * theta_dot + 0.5 * x + 0.5 * vx], dtype=np.float32), -1.0, 1.0)


def _student_mean(policy: Any, obs: torch.Tensor) -> torch.Tensor:
    """The deterministic action of an SB3 actor-critic policy (differentiable; images are scaled inside)."""
    features = policy.extract_features(obs, policy.pi_features_extractor)
    latent_pi = policy.mlp_extractor.forward_actor(features)
    return policy.action_net(latent_pi)


def dagger(student: Any, env: Any, teacher: Teacher, *, iterations: int = 8, steps_per_iteration: int = 2000,
           epochs: int = 2, batch_size: int = 64, learning_rate: float = 1e-3, beta_decay: float = 0.5,
           seed: int = 0, callback: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Distill ``teacher`` into ``student`` (an SB3 on-policy model with a Box action space) on ``env`` (one
    gymnasium env whose ``info["state"]`` the teacher reads). Returns one record per iteration (steps, beta,
    loss, episode returns of the rollout, seconds); ``callback(record)`` is called after each iteration."""
    if iterations < 1 or steps_per_iteration < 1 or epochs < 1 or batch_size < 1:
        raise SimtransferError("dagger: iterations, steps_per_iteration, epochs and batch_size must be >= 1")
    if not isinstance(env.action_space, gym.spaces.Box):
        raise SimtransferError(f"dagger: needs a Box action space, got {env.action_space}")
    if not 0.0 <= beta_decay <= 1.0:
        raise SimtransferError(f"dagger: beta_decay must be in [0, 1], got {beta_decay}")
    policy = student.policy
    low, high = env.action_space.low, env.action_space.high
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    history: list[dict[str, Any]] = []
    obs, info = env.reset(seed=seed)
    if "state" not in info:
        raise SimtransferError("dagger: the env's info has no 'state' for the teacher (use envs.pixels envs)")
    episode_return, returns = 0.0, []
    for it in range(iterations):
        t0 = time.perf_counter()
        beta = beta_decay ** it  # iteration 0: the teacher drives (behaviour cloning data)
        for _ in range(steps_per_iteration):
            label = np.clip(teacher(info["state"]), low, high)
            images.append(obs)
            labels.append(label)
            if rng.random() < beta:
                action = label
            else:
                action, _ = student.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            episode_return += float(reward)
            if terminated or truncated:
                returns.append(episode_return)
                episode_return = 0.0
                obs, info = env.reset()
        loss = _fit(policy, optimizer, np.stack(images), np.stack(labels), epochs, batch_size, rng)
        record = {"iteration": it, "steps": len(images), "beta": beta, "loss": loss,
                  "rollout_returns": returns, "seconds": time.perf_counter() - t0}
        returns = []
        history.append(record)
        if callback is not None:
            callback(record)
    return history


def _fit(policy: Any, optimizer: Any, images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
         rng: np.random.Generator) -> float:
    """Epochs of minibatch MSE regression of the student's deterministic action on the labels."""
    policy.set_training_mode(True)
    targets = torch.as_tensor(labels, dtype=torch.float32)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            obs, _ = policy.obs_to_tensor(images[idx])
            pred = _student_mean(policy, obs)
            loss = torch.nn.functional.mse_loss(pred, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    policy.set_training_mode(False)
    return float(np.mean(losses[-max(1, len(losses) // epochs):]))
