"""Save and load policies without pickles: safetensors weights + JSON metadata, model rebuilt from config.

>>> from simtransfer.agents.policy_io import load_policy
>>> pol = load_policy("runs/my_run")                              # doctest: +SKIP
>>> action, _ = pol.predict(obs, deterministic=True)              # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from safetensors.numpy import load, save
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv

from simtransfer.agents.algos import build_model
from simtransfer.agents.config import TrainConfig, load_train_config
from simtransfer.agents.vecenv import ObsNormalizer
from simtransfer.agents.zoo import resolve_run_dir
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.yaml_io import load_json

WEIGHTS = "policy.safetensors"
METADATA = "metadata.json"
CONFIG = "config.yaml"
VN_PREFIX = "vecnormalize."


# ---------------------------------------------------------------- spaces <-> JSON
def _floats(a: np.ndarray) -> list:
    return [float(x) if np.isfinite(x) else str(float(x)) for x in np.asarray(a, dtype=np.float64).ravel()]


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """A JSON description of a gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary, Dict)."""
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": _floats(space.low), "high": _floats(space.high)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(x) for x in np.asarray(space.nvec).ravel()],
                "shape": list(space.shape)}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    raise SimtransferError(f"unsupported space {space!r}")


def space_from_json(d: dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_json`."""
    kind = d.get("type")
    if kind == "Box":
        shape = tuple(d["shape"])
        low = np.array([float(v) for v in d["low"]]).reshape(shape)
        high = np.array([float(v) for v in d["high"]]).reshape(shape)
        return spaces.Box(low=low.astype(d["dtype"]), high=high.astype(d["dtype"]), shape=shape, dtype=d["dtype"])
    if kind == "Discrete":
        return spaces.Discrete(d["n"], start=d.get("start", 0))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.array(d["nvec"]).reshape(d["shape"]))
    if kind == "MultiBinary":
        return spaces.MultiBinary(d["n"])
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(s) for k, s in d["spaces"].items()})
    raise SimtransferError(f"unsupported space description {kind!r}")


def describe_space(space: gym.Space, bounds: bool = False) -> str:
    """``Box(3,)``, ``Discrete(2)``; with ``bounds`` a Box also shows its range (``Box(1,) in [-1, 1]``)."""
    if isinstance(space, spaces.Box):
        text = f"Box{tuple(space.shape)}"
        if bounds:
            low, high = np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)
            if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
                text += f" in [{low.flat[0]:g}, {high.flat[0]:g}]"
            else:
                text += f" in [{_range_text(low)}, {_range_text(high)}]"
        return text
    if isinstance(space, spaces.Discrete):
        return f"Discrete({space.n})"
    return repr(space)


def _range_text(a: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:g}" for x in a.ravel()) + "]"


def transposed_image(space: gym.Space) -> gym.Space:
    """The channel-first view SB3 gives a policy of a channel-last image space (``VecTransposeImage``)."""
    if isinstance(space, spaces.Box) and is_image_space(space) and not is_image_space_channels_first(space):
        return spaces.Box(low=np.transpose(space.low, (2, 0, 1)), high=np.transpose(space.high, (2, 0, 1)),
                          dtype=space.dtype)  # type: ignore[arg-type]
    return space


def spaces_compatible(expected: gym.Space, actual: gym.Space, *, bounds: bool = False) -> bool:
    """Same kind and shape (observation bounds may differ: randomized and held-out variants of one task).

    ``expected`` is the policy's space, ``actual`` the env's: a channel-last image env matches a policy that
    sees its channel-first transpose (SB3 adds ``VecTransposeImage`` when it builds the model).
    ``bounds=True`` (action spaces) also requires a Box's low/high to be equal: SB3 clips (and SAC/TD3 rescale)
    actions to the policy's range, so a target with another range would silently get other actions.
    """
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, spaces.Discrete):
        return expected.n == actual.n
    if isinstance(expected, spaces.Dict):
        return expected.spaces.keys() == actual.spaces.keys() and all(
            spaces_compatible(expected[k], actual[k], bounds=bounds) for k in expected.spaces)
    if expected.shape != actual.shape:
        actual = transposed_image(actual)
        if expected.shape != actual.shape:
            return False
    if bounds and isinstance(expected, spaces.Box):
        return bool(np.array_equal(expected.low, actual.low) and np.array_equal(expected.high, actual.high))
    return True


def check_env_spaces(policy: LoadedPolicy, env: gym.Env, target: str) -> None:
    """One-line error when ``env``'s spaces differ from the ones ``policy`` was trained on (action bounds included)."""
    for what, expected, got in (("observation", policy.observation_space, env.observation_space),
                                ("action", policy.action_space, env.action_space)):
        bounds = what == "action"
        if not spaces_compatible(expected, got, bounds=bounds):
            raise SimtransferError(f"target '{target}' has {what} space {describe_space(got, bounds)} but the "
                                   f"policy in {policy.run_dir} expects {describe_space(expected, bounds)} "
                                   "(configure an adapter)")


# ---------------------------------------------------------------- VecNormalize <-> tensors
def vecnormalize_arrays(vn: Any) -> dict[str, np.ndarray]:
    """``vecnormalize.*`` arrays: observation and return running statistics of a VecNormalize."""
    out: dict[str, np.ndarray] = {}

    def put(prefix: str, rms: Any) -> None:
        out[f"{prefix}.mean"] = np.asarray(rms.mean, dtype=np.float64)
        out[f"{prefix}.var"] = np.asarray(rms.var, dtype=np.float64)
        out[f"{prefix}.count"] = np.asarray([rms.count], dtype=np.float64)

    if vn is None:
        return out
    if isinstance(vn.obs_rms, dict):
        for key, rms in vn.obs_rms.items():
            put(f"{VN_PREFIX}obs_rms.{key}", rms)
    else:
        put(f"{VN_PREFIX}obs_rms", vn.obs_rms)
    put(f"{VN_PREFIX}ret_rms", vn.ret_rms)
    return out


def vecnormalize_settings(vn: Any) -> dict[str, Any] | None:
    if vn is None:
        return None
    return {"norm_obs": bool(vn.norm_obs), "norm_reward": bool(vn.norm_reward), "clip_obs": float(vn.clip_obs),
            "clip_reward": float(vn.clip_reward), "gamma": float(vn.gamma), "epsilon": float(vn.epsilon),
            "obs_keys": sorted(vn.obs_rms) if isinstance(vn.obs_rms, dict) else None}


def restore_vecnormalize(vn: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write ``vecnormalize.*`` arrays back into a VecNormalize's running statistics."""

    def get(prefix: str, rms: Any) -> None:
        try:
            rms.mean = np.array(arrays[f"{prefix}.mean"], dtype=np.float64).reshape(np.shape(rms.mean))
            rms.var = np.array(arrays[f"{prefix}.var"], dtype=np.float64).reshape(np.shape(rms.var))
            rms.count = float(arrays[f"{prefix}.count"][0])
        except (KeyError, ValueError) as exc:
            raise SimtransferError(f"normalization statistics do not match the env ({prefix}): {exc}") from None

    if isinstance(vn.obs_rms, dict):
        for key, rms in vn.obs_rms.items():
            get(f"{VN_PREFIX}obs_rms.{key}", rms)
    else:
        get(f"{VN_PREFIX}obs_rms", vn.obs_rms)
    get(f"{VN_PREFIX}ret_rms", vn.ret_rms)


def normalizer_from_arrays(settings: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> ObsNormalizer | None:
    if not settings or not settings.get("norm_obs"):
        return None
    keys = settings.get("obs_keys")
    if keys:
        mean = {k: arrays[f"{VN_PREFIX}obs_rms.{k}.mean"] for k in keys}
        var = {k: arrays[f"{VN_PREFIX}obs_rms.{k}.var"] for k in keys}
    else:
        mean, var = arrays[f"{VN_PREFIX}obs_rms.mean"], arrays[f"{VN_PREFIX}obs_rms.var"]
    return ObsNormalizer(mean, var, clip_obs=settings["clip_obs"], epsilon=settings["epsilon"])


# ---------------------------------------------------------------- files
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_sha256(config_text: str) -> str:
    """The sha256 ``metadata.json`` records for a run's ``config.yaml`` (its exact text)."""
    return hashlib.sha256(config_text.encode()).hexdigest()


def read_run_metadata(run_dir: str | Path) -> dict[str, Any]:
    """``metadata.json`` of a run, after checking that ``config.yaml`` still matches the sha256 it records.

    Runs written before the config was hashed (no ``config_sha256``) are read as they are.
    """
    run_dir = Path(run_dir)
    metadata = load_json(run_dir / METADATA)
    if not isinstance(metadata, dict):
        raise SimtransferError(f"{run_dir / METADATA} is corrupt: expected a JSON object")
    expected = metadata.get("config_sha256")
    if expected and (not (run_dir / CONFIG).is_file() or sha256_file(run_dir / CONFIG) != expected):
        raise SimtransferError(f"{run_dir / CONFIG} does not match the sha256 in {METADATA} (modified or corrupt)")
    return metadata


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then ``os.replace`` (never half-written; the temp
    file is removed when writing fails)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # a full disk or a kill: leave no temp file, keep the previous ``path``
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def save_weights(path: str | Path, model: Any, vec_normalize: Any = None) -> str:
    """Policy ``state_dict`` (+ ``vecnormalize.*`` statistics) to safetensors, atomically; returns its sha256."""
    arrays = {k: v.detach().cpu().contiguous().numpy().copy() for k, v in model.policy.state_dict().items()}
    arrays.update(vecnormalize_arrays(vec_normalize))
    data = save(arrays, metadata={"format": "simtransfer-policy/1"})
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_weights(path: str | Path, expected_sha256: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(policy state_dict as torch tensors, ``vecnormalize.*`` arrays); a corrupt file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SimtransferError(f"weights file not found: {path}")
    data = path.read_bytes()
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise SimtransferError(f"weights file {path} is corrupt or was modified (sha256 does not match metadata)")
    try:
        arrays = load(data)
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
        raise SimtransferError(f"weights file {path} is corrupt or truncated: {str(exc).splitlines()[0]}") from None
    state = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items() if not k.startswith(VN_PREFIX)}
    vn = {k: v for k, v in arrays.items() if k.startswith(VN_PREFIX)}
    return state, vn


# ---------------------------------------------------------------- rebuilding
class SpacesEnv(gym.Env):
    """A do-nothing env with given spaces: lets SB3 build a model without the real simulator."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any):
        return self.observation_space.sample(), 0.0, True, False, {}


def rebuild_model(config: TrainConfig, observation_space: gym.Space, action_space: gym.Space) -> Any:
    """The SB3 algorithm of ``config`` on the given spaces, freshly initialised (weights come next)."""

    venv = DummyVecEnv([lambda: SpacesEnv(observation_space, action_space)])
    return build_model(config.algo, venv, hyperparams=config.hyperparams, policy=config.policy.model_dump(),
                       seed=config.seed, device=config.device)


def load_state(model: Any, state: dict[str, Any], source: str) -> None:
    """Strict ``load_state_dict`` with a one-line error on missing/unexpected/mis-shaped tensors."""
    try:
        model.policy.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise SimtransferError(f"weights in {source} do not fit the policy rebuilt from its config: {first}") from None


@dataclass
class LoadedPolicy:
    """A trained policy rebuilt from a run directory (never unpickled)."""

    model: Any
    config: TrainConfig
    metadata: dict[str, Any]
    obs_rms: Any  # SB3 RunningMeanStd (dict of them for Dict observations) or None without VecNormalize
    normalizer: ObsNormalizer | None
    run_dir: Path
    ret_rms: Any = None  # return statistics (reward normalization), RunningMeanStd or None
    normalization: dict[str, Any] | None = None  # VecNormalize settings (clip_obs, gamma, ...) or None

    @property
    def observation_space(self) -> gym.Space:
        return self.model.observation_space

    @property
    def action_space(self) -> gym.Space:
        return self.model.action_space

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        """Like SB3's ``predict``, applying the run's observation normalization first."""
        x = self.normalizer(obs) if self.normalizer is not None else obs
        return self.model.predict(x, state=state, episode_start=episode_start, deterministic=deterministic)

    def apply_normalization(self, vec_normalize: Any) -> None:
        """Copy the saved statistics into a ``VecNormalize`` (e.g. to fine-tune with the source's scaling)."""
        if self.obs_rms is not None:
            vec_normalize.obs_rms = copy.deepcopy(self.obs_rms)
        if self.ret_rms is not None:
            vec_normalize.ret_rms = copy.deepcopy(self.ret_rms)


def load_policy(run_dir: str | Path) -> LoadedPolicy:
    """Rebuild the SB3 model of a run from ``config.yaml`` + ``metadata.json``, then load safetensors weights.

    ``run_dir`` may also be a zoo source, ``zoo:FAMILY/KIND/SEED`` (:mod:`simtransfer.agents.zoo`)."""
    run_dir = resolve_run_dir(run_dir)
    if not run_dir.is_dir():
        raise SimtransferError(f"run directory not found: {run_dir}")
    for name in (CONFIG, METADATA, WEIGHTS):
        if not (run_dir / name).is_file():
            raise SimtransferError(f"{run_dir} is not a finished run: {name} is missing")
    metadata = read_run_metadata(run_dir)
    config = load_train_config(run_dir / CONFIG, use_defaults=False)
    try:
        obs_space = space_from_json(metadata["observation_space"])
        act_space = space_from_json(metadata["action_space"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SimtransferError(f"{run_dir / METADATA} is corrupt: {type(exc).__name__}: {exc}") from None
    state, vn = read_weights(run_dir / WEIGHTS, metadata.get("weights_sha256"))
    model = rebuild_model(config, obs_space, act_space)
    load_state(model, state, str(run_dir / WEIGHTS))
    model.policy.set_training_mode(False)
    settings = (metadata.get("normalization") or {}).get("vecnormalize")
    normalizer = normalizer_from_arrays(settings, vn)
    obs_rms = running_stats(vn, f"{VN_PREFIX}obs_rms", (settings or {}).get("obs_keys")) if settings else None
    ret_rms = running_stats(vn, f"{VN_PREFIX}ret_rms") if settings else None
    return LoadedPolicy(model=model, config=config, metadata=metadata, obs_rms=obs_rms, normalizer=normalizer,
                        run_dir=run_dir, ret_rms=ret_rms, normalization=settings)


def running_stats(arrays: dict[str, np.ndarray], prefix: str, keys: list[str] | None = None) -> Any:
    """SB3 ``RunningMeanStd`` (or a dict of them for Dict observations) from ``vecnormalize.*`` arrays."""
    def one(p: str) -> Any:
        if f"{p}.mean" not in arrays:
            return None
        rms = RunningMeanStd(shape=np.shape(arrays[f"{p}.mean"]))
        rms.mean = np.array(arrays[f"{p}.mean"], dtype=np.float64)
        rms.var = np.array(arrays[f"{p}.var"], dtype=np.float64)
        rms.count = float(arrays[f"{p}.count"][0])
        return rms

    if keys:
        return {k: one(f"{prefix}.{k}") for k in keys}
    return one(prefix)
