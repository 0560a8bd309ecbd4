"""``metadata.json`` of a run: spaces, algorithm, network layout, normalization, randomization, versions, git."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from simtransfer.agents.algos import network_layout
from simtransfer.agents.policy_io import config_sha256, space_to_json, vecnormalize_settings
from simtransfer.envs.randomizer import PhysicsRandomizer

PACKAGES = ("simtransfer", "torch", "numpy", "gymnasium", "stable-baselines3", "sb3-contrib", "pybullet",
            "pybullet-envs-gymnasium", "safetensors", "pydantic", "wandb")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding this package (None outside a git checkout)."""
    where = Path(path) if path else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
        return {"commit": commit or None, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def effective_randomization(vec_env: Any) -> dict[str, Any] | None:
    """The randomization config the first training env actually applies (in-process VecEnvs only)."""
    venv = vec_env
    while hasattr(venv, "venv"):
        venv = venv.venv
    env = venv.envs[0] if hasattr(venv, "envs") else None
    while env is not None:
        if isinstance(env, PhysicsRandomizer):
            try:
                return env.config.model_dump(mode="json")
            except Exception:  # a config that is not JSON-friendly is not worth failing a run over
                return None
        env = getattr(env, "env", None)
    return None


def build_metadata(config: Any, model: Any, vec_normalize: Any, *, weights_sha256: str,
                   params_observed: dict[str, Any] | None = None, train_time_s: float | None = None,
                   vec_env: Any = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a reader needs to know about the saved policy, without unpickling anything."""
    meta: dict[str, Any] = {
        "format": "simtransfer-run/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "algo": config.algo,
        "algorithm_class": f"{type(model).__module__}:{type(model).__qualname__}",
        "policy": config.policy.model_dump(mode="json"),
        "hyperparams": config.hyperparams,
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "network": network_layout(model),
        "normalization": {"enabled": vec_normalize is not None,
                          "vecnormalize": vecnormalize_settings(vec_normalize),
                          "tensor_prefix": "vecnormalize." if vec_normalize is not None else None},
        "env": config.env.model_dump(mode="json"),
        "adapters": [a.model_dump(mode="json") for a in config.adapters],
        "randomization": {"spec": config.env.randomization,
                          "effective": effective_randomization(vec_env) if vec_env is not None else None,
                          "observed": params_observed or {}},
        "num_timesteps": int(model.num_timesteps),
        "seed": config.seed,
        "train_time_s": train_time_s,
        "weights_file": "policy.safetensors",
        "weights_sha256": weights_sha256,
        "config_file": "config.yaml",
        "config_sha256": config_sha256(config.to_yaml()),  # what train() writes to config.yaml
        "versions": package_versions(),
        "git": git_commit(),
    }
    if extra:
        meta.update(extra)
    return meta
