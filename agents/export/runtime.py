"""Run an exported policy file with ONNX Runtime or TorchScript — no simtransfer model code, no SB3.

>>> from simtransfer.agents.export.runtime import ExportedPolicy
>>> pol = ExportedPolicy("pendulum.onnx")                     # doctest: +SKIP
>>> pol.reset(); action = pol.act(robot_observation)          # doctest: +SKIP

State (history stacks, LSTM) is carried between :meth:`act` calls and reset by :meth:`reset`; the first call
after a reset marks ``episode_start``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simtransfer.agents.export._dict import flatten_dict
from simtransfer.agents.export._files import read_metadata, sniff_format
from simtransfer.envs.errors import SimtransferError


class ExportedPolicy:
    """An exported policy file; ``backend`` is ``onnx`` or ``torchscript`` (default: what the file is)."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        self.path = Path(path)
        self.backend = sniff_format(self.path)
        self.metadata = read_metadata(self.path)
        self.obs_shape = tuple(self.metadata["observation"]["shape"])
        self.discrete = self.metadata["action"]["dtype"] == "int64"  # Discrete or MultiDiscrete (argmax in the file)
        self.keys = self.metadata["observation"].get("keys")  # a Dict observation's flat layout
        self.state_specs = self.metadata.get("state") or []
        self.stateful = len(self.metadata["inputs"]) > 1
        if self.backend == "onnx":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = int(threads)
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        else:
            import torch

            self._torch = torch
            torch.set_num_threads(int(threads))
            self._module = torch.jit.load(str(self.path), map_location="cpu").eval()
        self.reset()

    @property
    def control_period(self) -> float | None:
        return self.metadata.get("control_period")

    def reset(self) -> None:
        """Start a new episode: zero state, the next call has ``episode_start = 1``."""
        self._state = [np.zeros((1, *s["shape"]), dtype=np.float32) for s in self.state_specs]
        self._start = np.ones(1, dtype=np.float32)

    def check_observation(self, obs: Any) -> np.ndarray:
        """A float32 array of the exported observation shape, or a one-line error (wrong size, NaN/inf); a dict
        (for a Dict-observation policy) is flattened in the file's documented key order first."""
        if isinstance(obs, Mapping):
            if self.keys is None:
                raise SimtransferError("observation is a dict; the exported policy expects one flat array")
            obs = flatten_dict(obs, self.keys)
        try:
            x = np.asarray(obs, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise SimtransferError(f"observation is not numeric: {exc}") from None
        if x.shape != self.obs_shape:
            raise SimtransferError(f"observation has shape {x.shape}; the exported policy expects {self.obs_shape}")
        if not np.isfinite(x).all():
            raise SimtransferError("observation holds NaN or inf")
        return x.reshape(self.obs_shape)

    def run(self, obs: np.ndarray, episode_start: np.ndarray | None = None,
            state: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """One batched call: ``obs`` (B, ...) → (actions (B, ...), new state)."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        args: list[np.ndarray] = [obs]
        if self.stateful:
            args.append(np.ascontiguousarray(episode_start, dtype=np.float32))
            args += [np.ascontiguousarray(s, dtype=np.float32) for s in (state or [])]
        if self.backend == "onnx":
            out = self._session.run(None, dict(zip(self.metadata["inputs"], args)))
        else:
            torch = self._torch
            with torch.inference_mode():
                res = self._module(*[torch.from_numpy(a) for a in args])
            res = res if isinstance(res, tuple) else (res,)
            out = [r.numpy() for r in res]
        return out[0], list(out[1:])

    def act(self, obs: Any) -> Any:
        """The action for one raw observation (state carried); an int for Discrete actions, an int64 array for
        MultiDiscrete ones."""
        x = self.check_observation(obs)
        action, state = self.run(x[None], self._start, self._state)
        self._state = state
        self._start = np.zeros(1, dtype=np.float32)
        return int(action[0]) if self.discrete and action.ndim == 1 else action[0]
