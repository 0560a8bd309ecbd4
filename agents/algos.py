"""Stable-Baselines3 algorithms and policies built from plain, JSON-serializable config.

Everything a run needs to rebuild its model lives in its config (algorithm name, hyperparameters, policy
section) plus the spaces in ``metadata.json`` — no pickled objects.

>>> from simtransfer.agents.algos import algorithm_class, policy_kwargs_from_config
>>> algorithm_class("ppo").__name__
'PPO'
>>> policy_kwargs_from_config({"net_arch": [64, 64], "activation_fn": "tanh"})["activation_fn"]
<class 'torch.nn.modules.activation.Tanh'>
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from simtransfer.envs.components import short_name
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.trust import import_object, resolve_component

SB3_PACKAGES = ("stable_baselines3", "sb3_contrib")

# name -> (dotted class path, default policy for Box/Discrete obs, default policy for Dict obs)
ALGORITHMS: dict[str, tuple[str, str, str]] = {
    "ppo": ("stable_baselines3:PPO", "MlpPolicy", "MultiInputPolicy"),
    "a2c": ("stable_baselines3:A2C", "MlpPolicy", "MultiInputPolicy"),
    "sac": ("stable_baselines3:SAC", "MlpPolicy", "MultiInputPolicy"),
    "td3": ("stable_baselines3:TD3", "MlpPolicy", "MultiInputPolicy"),
    "dqn": ("stable_baselines3:DQN", "MlpPolicy", "MultiInputPolicy"),
    "recurrent_ppo": ("sb3_contrib:RecurrentPPO", "MlpLstmPolicy", "MultiInputLstmPolicy"),
}
OFF_POLICY = {"sac", "td3", "dqn"}
DISCRETE_ONLY = {"dqn"}
CONTINUOUS_ONLY = {"sac", "td3"}
RECURRENT = {"recurrent_ppo"}

# Constructor arguments the pipeline sets itself; not allowed in ``hyperparams``.
RESERVED = {"policy", "env", "policy_kwargs", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}

ACTIVATIONS = {
    "tanh": "torch.nn:Tanh",
    "relu": "torch.nn:ReLU",
    "elu": "torch.nn:ELU",
    "leaky_relu": "torch.nn:LeakyReLU",
    "gelu": "torch.nn:GELU",
    "silu": "torch.nn:SiLU",
    "sigmoid": "torch.nn:Sigmoid",
}
SCHEDULE_KEYS = {"learning_rate", "clip_range", "clip_range_vf"}


def algorithm_class(algo: str) -> type:
    """The SB3 class for an algorithm name (``ppo``, ``sac``, ``td3``, ``a2c``, ``dqn``, ``recurrent_ppo``)."""
    if algo not in ALGORITHMS:
        raise SimtransferError(f"unknown algorithm '{algo}' (known: {', '.join(sorted(ALGORITHMS))})")
    return import_object(ALGORITHMS[algo][0])


def allowed_hyperparams(algo: str) -> set[str]:
    """Constructor keyword arguments of the algorithm a config may set in ``hyperparams``."""
    params = inspect.signature(algorithm_class(algo).__init__).parameters
    return {name for name in params if name not in RESERVED and name != "self"}


def check_hyperparams(algo: str, hyperparams: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first key the algorithm's constructor does not accept."""
    allowed = allowed_hyperparams(algo)
    for key in hyperparams:
        if key not in allowed:
            raise ValueError(f"unknown hyperparameter '{key}' for {algo} (allowed: {', '.join(sorted(allowed))})")


def linear_schedule(initial: float):
    """``progress_remaining`` (1 → 0) times ``initial``; a named function so it stays inspectable.  Never below 0:
    SB3 computes ``progress_remaining`` after each rollout, so a budget that is not a multiple of the rollout
    (``n_steps * n_envs``) ends with a negative value — a negative learning rate (gradient ascent) or clip range.

    >>> s = linear_schedule(1e-3)
    >>> s(1.0), s(0.5), s(-0.024)
    (0.001, 0.0005, 0.0)
    """

    def schedule(progress_remaining: float) -> float:
        return max(progress_remaining, 0.0) * initial

    schedule.__qualname__ = f"linear_schedule({initial})"
    return schedule


def resolve_hyperparams(hyperparams: dict[str, Any], action_space: Any = None) -> dict[str, Any]:
    """Turn the JSON-friendly hyperparameters of a config into SB3 constructor arguments.

    ``"lin_3e-4"`` (RL Zoo style) for a learning rate or clip range becomes a linear schedule;
    ``train_freq: [1, "episode"]`` a tuple; ``action_noise: {type: normal, sigma: 0.1}`` an action-noise object.
    """
    out: dict[str, Any] = {}
    for key, value in hyperparams.items():
        if key in SCHEDULE_KEYS and isinstance(value, str):
            if not value.startswith("lin_"):
                raise SimtransferError(f"hyperparams.{key}: expected a number or 'lin_<number>', got '{value}'")
            try:
                out[key] = linear_schedule(float(value[4:]))
            except ValueError:
                raise SimtransferError(f"hyperparams.{key}: bad schedule '{value}'") from None
        elif key == "train_freq" and isinstance(value, list):
            out[key] = tuple(value)
        elif key == "action_noise" and isinstance(value, dict):
            out[key] = _action_noise(value, action_space)
        else:
            out[key] = value
    return out


def _action_noise(spec: dict[str, Any], action_space: Any) -> Any:
    kinds = {"normal": NormalActionNoise, "ornstein_uhlenbeck": OrnsteinUhlenbeckActionNoise}
    kind = spec.get("type", "normal")
    if kind not in kinds:
        raise SimtransferError(f"hyperparams.action_noise.type: unknown '{kind}' (known: {', '.join(kinds)})")
    if action_space is None or not hasattr(action_space, "shape"):
        raise SimtransferError("hyperparams.action_noise needs a continuous (Box) action space")
    n = int(np.prod(action_space.shape))
    sigma = float(spec.get("sigma", 0.1))
    return kinds[kind](mean=np.zeros(n), sigma=sigma * np.ones(n))


def policy_kwargs_from_config(policy: dict[str, Any]) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` from the config's ``policy`` section (without ``policy_class``).

    ``activation_fn`` is a short name (``tanh``, ``relu``, ...) or a dotted path; ``features_extractor_class``
    a dotted path; everything under ``kwargs`` is passed through unchanged.
    """
    out: dict[str, Any] = dict(policy.get("kwargs") or {})
    if policy.get("net_arch") is not None:
        out["net_arch"] = policy["net_arch"]
    act = policy.get("activation_fn")
    if act is not None:
        out["activation_fn"] = resolve_component(ACTIVATIONS.get(act.lower(), act), torch.nn.Module,
                                                 field="policy.activation_fn", libraries=("torch",))
    fe = policy.get("features_extractor_class")
    if fe is not None:
        out["features_extractor_class"] = resolve_component(fe, BaseFeaturesExtractor,
                                                            field="policy.features_extractor_class",
                                                            libraries=SB3_PACKAGES)
        if policy.get("features_extractor_kwargs"):
            out["features_extractor_kwargs"] = dict(policy["features_extractor_kwargs"])
    return out


def policy_class_for(algo: str, policy_class: str | None, observation_space: Any) -> Any:
    """The policy to hand SB3: an imported class for a dotted path, else the algorithm's default name."""
    if policy_class:
        return resolve_component(policy_class, BasePolicy, field="policy.policy_class", libraries=SB3_PACKAGES)

    _, flat, multi = ALGORITHMS[algo]
    return multi if isinstance(observation_space, spaces.Dict) else flat


def check_action_space(algo: str, action_space: Any, env_name: str) -> None:
    """One-line error when an algorithm cannot act in the env's action space."""
    if algo in DISCRETE_ONLY and not isinstance(action_space, spaces.Discrete):
        raise SimtransferError(f"{algo} needs a Discrete action space; env '{env_name}' has {action_space}")
    if algo in CONTINUOUS_ONLY and not isinstance(action_space, spaces.Box):
        raise SimtransferError(f"{algo} needs a continuous (Box) action space; env '{env_name}' has {action_space}")


def build_model(
    algo: str,
    env: Any,
    *,
    hyperparams: dict[str, Any],
    policy: dict[str, Any],
    seed: int | None,
    device: str = "cpu",
    verbose: int = 0,
) -> Any:
    """Instantiate the SB3 algorithm on ``env`` (a VecEnv) from config sections."""
    cls = algorithm_class(algo)
    check_action_space(algo, env.action_space, "training env")
    kwargs = resolve_hyperparams(hyperparams, env.action_space)
    pol = policy_class_for(algo, policy.get("policy_class"), env.observation_space)
    try:
        return cls(pol, env, policy_kwargs=policy_kwargs_from_config(policy), seed=seed, device=device,
                   verbose=verbose, **kwargs)
    except SimtransferError:
        raise
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SimtransferError(f"cannot build {algo} model from config: {msg}") from None


def network_layout(model: Any) -> dict[str, Any]:
    """Blocks (module prefixes up to the layer index), parameter names and shapes of the policy."""
    params: dict[str, list[int]] = {}
    blocks: dict[str, list[str]] = {}
    for name, tensor in model.policy.state_dict().items():
        params[name] = list(tensor.shape)
        blocks.setdefault(block_name(name), []).append(name)
    n = sum(int(p.numel()) for p in model.policy.parameters())
    return {
        "policy_class": short_name(type(model.policy)) or f"{type(model.policy).__module__}:{type(model.policy).__qualname__}",
        "blocks": blocks,
        "params": params,
        "n_parameters": n,
        "repr": repr(model.policy).splitlines()[:200],
    }


def block_name(param_name: str) -> str:
    """``mlp_extractor.policy_net.0.weight`` → ``mlp_extractor.policy_net``; ``log_std`` → ``log_std``."""
    parts = param_name.split(".")
    if len(parts) > 1:
        parts = parts[:-1]
    while len(parts) > 1 and parts[-1].isdigit():
        parts = parts[:-1]
    return ".".join(parts)
