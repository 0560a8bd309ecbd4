"""Dict observations in an exported policy: one flat input vector, split by the graph into the policy's keys.

The flat layout is documented in the file's metadata (``observation.keys``): the Dict space's keys in its own
order (gymnasium sorts them), each value flattened row-major, concatenated. ``ExportedPolicy.act`` also takes
the dict itself and flattens it the same way (:func:`flatten_dict`). Only Box sub-spaces are exported: a
Discrete, MultiDiscrete or nested Dict entry is a one-line error naming the key.

>>> import numpy as np
>>> keys = [{"name": "angle", "shape": [2]}, {"name": "velocity", "shape": [1]}]
>>> flatten_dict({"velocity": np.array([3.0]), "angle": np.array([1.0, 2.0])}, keys).tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from simtransfer.agents.policy_io import describe_space
from simtransfer.envs.errors import SimtransferError


def dict_keys(space: spaces.Dict) -> list[dict[str, Any]]:
    """``[{"name", "shape"}, ...]`` in the flat layout's order; a non-Box entry is a one-line error."""
    keys = []
    for name, sub in space.spaces.items():
        if not isinstance(sub, spaces.Box):
            raise SimtransferError(f"cannot export Dict observation key '{name}' ({describe_space(sub)}): only Box "
                                   "entries have a flat exported form")
        keys.append({"name": str(name), "shape": [int(d) for d in sub.shape]})
    return keys


def flatten_dict(obs: Mapping[str, Any], keys: list[dict[str, Any]]) -> np.ndarray:
    """A dict observation as the exported file's flat float32 input (one-line error on a missing key or size)."""
    parts = []
    for k in keys:
        if k["name"] not in obs:
            raise SimtransferError(f"observation lacks key '{k['name']}' (the exported policy expects "
                                   f"{', '.join(x['name'] for x in keys)})")
        try:
            x = np.asarray(obs[k["name"]], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise SimtransferError(f"observation key '{k['name']}' is not numeric: {exc}") from None
        if x.size != math.prod(k["shape"]):
            raise SimtransferError(f"observation key '{k['name']}' has shape {x.shape}; the exported policy "
                                   f"expects {tuple(k['shape'])}")
        parts.append(x.reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class DictSplit(nn.Module):
    """Flat batch ``(B, sum of sizes)`` → the policy's dict of ``(B, *shape)`` tensors, each normalized like
    ``ObsNormalizer`` (float64, clipped, then float32) where the run normalized that key."""

    def __init__(self, keys: list[dict[str, Any]], normalizer: Any = None) -> None:
        super().__init__()
        self.names = [k["name"] for k in keys]
        self.shapes = [tuple(k["shape"]) for k in keys]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.normalized: list[bool] = []
        for i, name in enumerate(self.names):
            stats = normalizer is not None and name in normalizer.mean
            self.normalized.append(stats)
            if stats:
                self.register_buffer(f"mean{i}", torch.as_tensor(np.asarray(normalizer.mean[name]),
                                                                 dtype=torch.float64).clone())
                self.register_buffer(f"std{i}", torch.sqrt(torch.as_tensor(np.asarray(normalizer.var[name]),
                                                                           dtype=torch.float64) + normalizer.epsilon))
        self.clip = float(normalizer.clip_obs) if normalizer is not None else 0.0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for i, part in enumerate(torch.split(x, self.sizes, dim=1)):
            part = part.reshape((x.shape[0],) + self.shapes[i])
            if self.normalized[i]:
                part = (part.to(torch.float64) - getattr(self, f"mean{i}")) / getattr(self, f"std{i}")
                part = torch.clamp(part, -self.clip, self.clip)
            out[self.names[i]] = part.to(torch.float32)
        return out
