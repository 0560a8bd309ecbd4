"""Atomic, pickle-free training checkpoints: one safetensors file (numpy arrays) + JSON in its header.

A checkpoint holds the policy and optimizer state dicts, extra torch variables (SAC's ``log_ent_coef``),
the replay buffer (off-policy), VecNormalize statistics, RNG states (python, numpy, torch) and the
timestep counters, plus whatever JSON state the caller adds (evaluation curves, ...). Files are written
to a temp file, fsynced and ``os.replace``d, so a killed process never leaves a half-written checkpoint.

>>> from simtransfer.agents.checkpoint import latest_checkpoint
>>> latest_checkpoint("runs/my_run/checkpoints")                 # doctest: +SKIP
PosixPath('runs/my_run/checkpoints/step_000020000.safetensors')
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load, save

from simtransfer.agents.policy_io import atomic_write_bytes, restore_vecnormalize, vecnormalize_arrays
from simtransfer.envs.errors import SimtransferError

FORMAT = "simtransfer-checkpoint/1"
PATTERN = re.compile(r"^step_(\d+)\.safetensors$")
RB_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def _flatten_optimizer(prefix: str, sd: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Tensors of an optimizer state_dict into ``arrays``; the rest (param groups, scalars) as JSON."""
    meta: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for idx, entry in sd["state"].items():
        scalars = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                arrays[f"{prefix}.state.{idx}.{key}"] = value.detach().cpu().numpy().copy()
            else:
                scalars[key] = value
        meta["state"][str(idx)] = {"scalars": scalars, "tensors": [k for k, v in entry.items()
                                                                   if isinstance(v, torch.Tensor)]}
    return meta


def _unflatten_optimizer(prefix: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    state = {}
    for idx, entry in meta["state"].items():
        values: dict[str, Any] = dict(entry["scalars"])
        for key in entry["tensors"]:
            values[key] = torch.from_numpy(np.array(arrays[f"{prefix}.state.{idx}.{key}"]))
        state[int(idx)] = values
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    arrays = {"rng.torch": torch.get_rng_state().numpy().copy(), "rng.numpy": np.asarray(keys, dtype=np.uint32),
              "rng.python": np.asarray(py_state, dtype=np.uint64)}
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [py_version, py_gauss]}
    return arrays, meta


def _set_rng_state(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    torch.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch"], dtype=np.uint8)))
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.array(arrays["rng.numpy"], dtype=np.uint32), pos, has_gauss, cached))
    version, gauss = meta["python"]
    random.setstate((version, tuple(int(x) for x in arrays["rng.python"]), gauss))


def _buffer_arrays(buf: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    size = buf.buffer_size if buf.full else buf.pos
    fields = []
    for name in RB_FIELDS:
        value = getattr(buf, name, None)
        if isinstance(value, dict):
            for key, arr in value.items():
                arrays[f"rb.{name}.{key}"] = np.ascontiguousarray(arr[:size])
            fields.append(name)
        elif isinstance(value, np.ndarray) and value.size > 0:
            arrays[f"rb.{name}"] = np.ascontiguousarray(value[:size])
            fields.append(name)
    return {"pos": int(buf.pos), "full": bool(buf.full), "size": int(size), "buffer_size": int(buf.buffer_size),
            "fields": fields}


def _restore_buffer(buf: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    if meta["buffer_size"] != buf.buffer_size:
        raise SimtransferError(f"checkpoint replay buffer has size {meta['buffer_size']}, model has {buf.buffer_size}")
    size = meta["size"]
    for name in meta["fields"]:
        target = getattr(buf, name)
        if isinstance(target, dict):
            for key in target:
                target[key][:size] = arrays[f"rb.{name}.{key}"]
        else:
            target[:size] = arrays[f"rb.{name}"]
    buf.pos, buf.full = meta["pos"], meta["full"]


def save_checkpoint(path: str | Path, model: Any, vec_normalize: Any = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write everything needed to continue training to ``path`` (atomically)."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": FORMAT, "num_timesteps": int(model.num_timesteps),
                            "n_updates": int(getattr(model, "_n_updates", 0)),
                            "episode_num": int(getattr(model, "_episode_num", 0)),
                            "objects": {}, "variables": [], "extra": extra or {}}
    for name, sd in model.get_parameters().items():
        obj = model
        for part in name.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, torch.optim.Optimizer):
            meta["objects"][name] = {"kind": "optimizer", **_flatten_optimizer(f"opt.{name}", sd, arrays)}
        else:
            for key, tensor in sd.items():
                arrays[f"module.{name}.{key}"] = tensor.detach().cpu().contiguous().numpy().copy()
            meta["objects"][name] = {"kind": "module", "keys": list(sd)}
    for name in model._get_torch_save_params()[1]:
        value = getattr(model, name, None)
        if isinstance(value, torch.Tensor):
            arrays[f"var.{name}"] = value.detach().cpu().numpy().copy()
            meta["variables"].append(name)
    buf = getattr(model, "replay_buffer", None)
    if buf is not None:
        meta["replay_buffer"] = _buffer_arrays(buf, arrays)
    if vec_normalize is not None:
        arrays.update(vecnormalize_arrays(vec_normalize))
        arrays["vecnormalize_returns"] = np.asarray(vec_normalize.returns, dtype=np.float64)
    rng_arrays, meta["rng"] = _rng_state()
    arrays.update(rng_arrays)
    data = save(arrays, metadata={"simtransfer": json.dumps(meta, default=str)})
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON metadata, arrays) of a checkpoint; a corrupt file is a one-line error."""
    path = Path(path)
    try:
        data = path.read_bytes()
        arrays = load(data)
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads(f.metadata()["simtransfer"])
    except Exception as exc:
        raise SimtransferError(f"checkpoint {path} is corrupt or truncated: {str(exc).splitlines()[0]}") from None
    if meta.get("format") != FORMAT:
        raise SimtransferError(f"checkpoint {path} has unknown format {meta.get('format')!r}")
    return meta, arrays


def restore_checkpoint(path: str | Path, model: Any, vec_normalize: Any = None) -> dict[str, Any]:
    """Load a checkpoint into a freshly built ``model`` (same config); returns its JSON metadata."""
    meta, arrays = read_checkpoint(path)
    params: dict[str, Any] = {}
    for name, obj in meta["objects"].items():
        if obj["kind"] == "optimizer":
            params[name] = _unflatten_optimizer(f"opt.{name}", obj, arrays)
        else:
            params[name] = {k: torch.from_numpy(np.array(arrays[f"module.{name}.{k}"])) for k in obj["keys"]}
    try:
        model.set_parameters(params, exact_match=True, device=model.device)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise SimtransferError(f"checkpoint {path} does not fit the model: {' '.join(str(exc).split())[:300]}") from None
    for name in meta["variables"]:
        with torch.no_grad():
            getattr(model, name).copy_(torch.from_numpy(np.array(arrays[f"var.{name}"])))
    if "replay_buffer" in meta and getattr(model, "replay_buffer", None) is not None:
        try:
            _restore_buffer(model.replay_buffer, meta["replay_buffer"], arrays)
        except (ValueError, KeyError) as exc:
            raise SimtransferError(f"checkpoint {path}: replay buffer does not fit the model (changed n_envs or "
                                   f"spaces?): {' '.join(str(exc).split())[:200]}") from None
    if vec_normalize is not None and "vecnormalize_returns" in arrays:
        restore_vecnormalize(vec_normalize, arrays)
        returns = np.array(arrays["vecnormalize_returns"])
        if returns.shape == np.shape(vec_normalize.returns):
            vec_normalize.returns = returns
    model.num_timesteps = meta["num_timesteps"]
    model._n_updates = meta["n_updates"]
    model._episode_num = meta["episode_num"]
    _set_rng_state(arrays, meta["rng"])
    return meta


def checkpoint_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step_{step:09d}.safetensors"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints in ``directory``, oldest first (temp files ignored)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def latest_readable_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that reads back, with its JSON metadata; a corrupt or truncated newer one is
    skipped with one warning line on stderr (a kill or a full disk can leave one behind)."""
    for path in reversed(list_checkpoints(directory)):
        try:
            meta, _ = read_checkpoint(path)
        except SimtransferError as exc:
            print(f"simtransfer: warning: {exc} (skipped: trying an older checkpoint)", file=sys.stderr, flush=True)
            continue
        return path, meta
    return None


def prune_checkpoints(directory: str | Path, keep: int) -> None:
    for p in list_checkpoints(directory)[:-keep]:
        p.unlink(missing_ok=True)
