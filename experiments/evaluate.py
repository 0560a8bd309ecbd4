"""Score a trained run on any target env (registered id, ``module:callable``, or a full env spec).

The run's ``adapters`` are applied to the target, its VecNormalize statistics to observations; episode ``i``
resets with ``seed + i`` and actions are deterministic, so the numbers are reproducible.

>>> from simtransfer.experiments.evaluate import evaluate_run
>>> res = evaluate_run("runs/ip", "simtransfer/InvertedPendulumExtrap-v0", episodes=10, seed=0)  # doctest: +SKIP
>>> res.mean_return                                                                              # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simtransfer.agents.evaluation import EvalResult, run_episodes, summarize
from simtransfer.agents.policy_io import LoadedPolicy, describe_space, load_policy, spaces_compatible
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, parse_env_spec

__all__ = ["EvalResult", "evaluate_loaded_policy", "evaluate_run"]


def evaluate_loaded_policy(policy: LoadedPolicy, target_spec: str | dict[str, Any] | EnvSpec, episodes: int = 10,
                           seed: int = 0, *, max_steps: int = 100_000) -> EvalResult:
    """Evaluate an already loaded policy on one target (see :func:`evaluate_run`); unlike SB3's
    ``evaluate_policy`` it builds the env itself, applies the run's adapters and checks the spaces."""
    if episodes < 1:
        raise SimtransferError(f"episodes must be at least 1, got {episodes}")
    spec = parse_env_spec(target_spec)
    env = make_single_env(spec, policy.config.adapters, seed=seed)
    try:
        for what, expected, got in (("observation", policy.observation_space, env.observation_space),
                                    ("action", policy.action_space, env.action_space)):
            bounds = what == "action"
            if not spaces_compatible(expected, got, bounds=bounds):
                raise SimtransferError(
                    f"target '{spec.id}' has {what} space {describe_space(got, bounds)} but the policy in "
                    f"{policy.run_dir} expects {describe_space(expected, bounds)} (configure an adapter)")
        returns, lengths = run_episodes(env, policy.model, episodes=episodes, seed=seed,
                                        normalizer=policy.normalizer, max_steps=max_steps)
    finally:
        env.close()
    return summarize(spec.name or spec.id, returns, lengths)


def evaluate_run(run_dir: str | Path | LoadedPolicy, target_spec: str | dict[str, Any] | EnvSpec,
                 episodes: int = 10, seed: int = 0) -> EvalResult:
    """Load the policy of ``run_dir`` (no unpickling) and score it on ``target_spec``."""
    policy = run_dir if isinstance(run_dir, LoadedPolicy) else load_policy(run_dir)
    return evaluate_loaded_policy(policy, target_spec, episodes, seed)
