"""A finished source run, read without unpickling anything: config, metadata, policy tensors, their sha256.

>>> src = SourceRun.load("runs/pendulum")                 # doctest: +SKIP
>>> src.algo, src.sha256[:12], len(src.state_dict)         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file

from simtransfer.agents.config import TrainConfig
from simtransfer.agents.policy_io import read_run_metadata
from simtransfer.agents.zoo import resolve_run_dir
from simtransfer.envs.errors import SimtransferError, validation_error
from simtransfer.envs.yaml_io import load_yaml
from simtransfer.transfer.weights import sha256_file

NORM_PREFIX = "vecnormalize."


@dataclass
class SourceRun:
    """Read-only view of a run directory (``config.yaml``, ``metadata.json``, ``policy.safetensors``)."""

    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    normalization: dict[str, torch.Tensor] = field(default_factory=dict)
    sha256: str = ""

    @classmethod
    def load(cls, run_dir: str | Path) -> SourceRun:
        path = resolve_run_dir(run_dir)  # a run directory, or a checked zoo entry for zoo:FAMILY/KIND/SEED
        if not path.is_dir():
            raise SimtransferError(f"source run not found: {path}")
        weights = path / "policy.safetensors"
        if not weights.is_file():
            raise SimtransferError(f"source run {path} has no policy.safetensors (not a finished run?)")
        metadata = read_run_metadata(path) if (path / "metadata.json").is_file() else {}
        config = load_yaml(path / "config.yaml") if (path / "config.yaml").is_file() else None
        if not isinstance(config, dict):
            raise SimtransferError(f"source run {path} has no readable config.yaml")
        try:
            tensors = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as exc:
            raise SimtransferError(f"corrupt policy.safetensors in {path}: {exc}") from None
        policy = {k: v for k, v in tensors.items() if not k.startswith(NORM_PREFIX)}
        norm = {k[len(NORM_PREFIX):]: v for k, v in tensors.items() if k.startswith(NORM_PREFIX)}
        sha = sha256_file(weights)
        expected = metadata.get("weights_sha256")
        if expected and expected != sha:
            raise SimtransferError(f"source run {path}: policy.safetensors does not match the sha256 in metadata.json "
                                   "(modified or corrupt)")
        return cls(path, config, metadata, policy, norm, sha)

    @property
    def algo(self) -> str:
        return str(self.metadata.get("algo") or self.config.get("algo", "")).lower()

    @property
    def env_id(self) -> str:
        env = self.config.get("env", {})
        return env.get("id", "?") if isinstance(env, dict) else str(env)

    def train_config(self) -> TrainConfig:
        """The source's :class:`~simtransfer.agents.config.TrainConfig`."""
        try:
            return TrainConfig.model_validate(self.config)
        except ValidationError as exc:
            raise validation_error(exc, f"source config {self.path / 'config.yaml'}") from None

    def lineage(self) -> dict[str, Any]:
        """What a derived run records about this source."""
        return {"run": str(self.path.resolve()), "sha256": self.sha256, "algo": self.algo, "env": self.env_id}
