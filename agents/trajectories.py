"""Logged trajectories on disk: a Minari dataset directory (``metadata.json`` + ``main_data.hdf5``).

The format is Minari's own (https://minari.farama.org): a robot's logger writes it with
:class:`TrajectoryWriter` (no gymnasium env needed, only its spaces), ``minari`` tools read it, and
:func:`read_trajectories` reads it back with checks. Per episode of ``T`` steps: ``observations (T+1, ...)``,
``actions (T, ...)``, ``rewards``, ``terminations``, ``truncations`` ``(T,)``; the time stamps ``(T+1,)`` (seconds,
from any origin) are Minari step infos ``t``. simtransfer's own keys (``env_id``, ``control_period``, the
caller's ``metadata``) are one JSON string under the Minari metadata key ``simtransfer``. Reading never
unpickles (HDF5 through h5py, metadata through JSON).

A log written by something else — a plain ``.npz`` or ``.csv`` of arrays, one row per observation — converts
with :func:`convert_arrays` (layout: docs/calibration.md).

>>> import pathlib, tempfile, numpy as np, gymnasium as gym
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> box = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
>>> with TrajectoryWriter(tmp / "log", env_id="demo-v0", observation_space=box,
...                       action_space=gym.spaces.Box(-1, 1, (1,), np.float32), control_period=0.05) as w:
...     w.start_episode(np.zeros(2))
...     w.add_step(np.ones(1), np.ones(2), 1.0, False, True, t=0.05)
...     w.end_episode()
>>> data = read_trajectories(tmp / "log")
>>> data.metadata["env_id"], data.episodes[0].observations.shape, data.episodes[0].timestamps.tolist()
('demo-v0', (2, 2), [0.0, 0.05])
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_storage import MinariStorage

from simtransfer.envs.errors import SimtransferError

FORMAT = "simtransfer-trajectories/1"
_META_KEY = "simtransfer"


@dataclass
class Episode:
    """One logged episode: ``T`` steps, ``T + 1`` observations and time stamps."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


@dataclass
class Trajectories:
    """What :func:`read_trajectories` returns: the episodes and the metadata (``env_id``, ``control_period``, ...)."""

    episodes: list[Episode]
    metadata: dict = field(default_factory=dict)
    observation_space: gym.Space | None = None
    action_space: gym.Space | None = None

    @property
    def env_id(self) -> str:
        return str(self.metadata.get("env_id", ""))

    @property
    def total_steps(self) -> int:
        return sum(len(e) for e in self.episodes)


class TrajectoryWriter:
    """Write episodes into a new Minari dataset directory at ``path``; each finished episode is flushed to disk.

    ``path`` must not exist yet (earlier data is never overwritten). Use as a context manager; an episode
    still open at :meth:`close` is written as truncated if it has at least one step.
    """

    def __init__(self, path, *, env_id: str, observation_space, action_space, control_period: float | None = None,
                 metadata: dict | None = None) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise SimtransferError(f"{self.path}: already exists; trajectories are never overwritten (choose a new path)")
        if not isinstance(observation_space, gym.spaces.Box) or not isinstance(action_space, gym.spaces.Box):
            raise SimtransferError(f"{self.path}: observation_space and action_space must be gymnasium Box spaces")
        self.observation_space, self.action_space = observation_space, action_space
        meta = {"format": FORMAT, "env_id": str(env_id), "control_period": control_period, **(metadata or {})}
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise SimtransferError(f"{self.path}: metadata is not JSON-serializable ({exc})") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._storage = MinariStorage.new(str(self.path), observation_space=observation_space,
                                        action_space=action_space, env_spec=None, data_format="hdf5")
        self._storage.update_metadata({_META_KEY: json.dumps(meta)})
        self._episode: dict[str, list] | None = None
        self._count = 0

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start_episode(self, observation, t: float = 0.0) -> None:
        self._finish_open()
        self._episode = {"observations": [self._obs(observation)], "actions": [], "rewards": [],
                         "terminations": [], "truncations": [], "t": [float(t)]}

    def add_step(self, action, observation, reward: float, terminated: bool, truncated: bool, t: float,
                 info: dict | None = None) -> None:
        if self._episode is None:
            raise SimtransferError(f"{self.path}: add_step before start_episode")
        act = np.asarray(action, dtype=self.action_space.dtype).reshape(self.action_space.shape)
        ep = self._episode
        ep["actions"].append(act)
        ep["observations"].append(self._obs(observation))
        ep["rewards"].append(float(reward))
        ep["terminations"].append(bool(terminated))
        ep["truncations"].append(bool(truncated))
        ep["t"].append(float(t))

    def end_episode(self) -> None:
        ep, self._episode = self._episode, None
        if ep is None or not ep["actions"]:
            return
        buf = EpisodeBuffer(id=self._count, observations=ep["observations"], actions=ep["actions"],
                         rewards=ep["rewards"], terminations=ep["terminations"], truncations=ep["truncations"],
                         infos={"t": np.asarray(ep["t"], dtype=np.float64)})
        self._storage.update_episodes([buf])
        self._count += 1

    def close(self) -> None:
        self._finish_open()

    def _finish_open(self) -> None:
        """Write an episode left open (marked truncated: it did not end by itself)."""
        ep = self._episode
        if ep is not None:
            if ep["truncations"] and not (ep["terminations"][-1] or ep["truncations"][-1]):
                ep["truncations"][-1] = True
            self.end_episode()

    def _obs(self, observation) -> np.ndarray:
        obs = np.asarray(observation, dtype=self.observation_space.dtype)
        if obs.shape != self.observation_space.shape:
            raise SimtransferError(f"{self.path}: observation has shape {obs.shape}, the observation space "
                                   f"{self.observation_space.shape}")
        return obs


def _bad(path, what: str) -> SimtransferError:
    return SimtransferError(f"{path}: {what}")


def read_trajectories(path) -> Trajectories:
    """Read and check a trajectory dataset directory written by :class:`TrajectoryWriter` or :func:`convert_arrays`."""
    path = Path(path)
    if not (path / "metadata.json").is_file():
        raise _bad(path, "not a trajectory dataset (no metadata.json; convert a plain npz/CSV with convert_arrays)")
    try:
        raw = json.loads((path / "metadata.json").read_text())
        meta = json.loads(raw.get(_META_KEY, "{}")) if isinstance(raw, dict) else None
    except (OSError, ValueError, TypeError) as exc:
        raise _bad(path, f"metadata.json: malformed ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict) or not meta.get("env_id"):
        raise _bad(path, "metadata.json: field 'simtransfer.env_id' is missing")
    try:
        storage = MinariStorage.read(str(path))
        obs_space, act_space = storage.observation_space, storage.action_space
        raw_eps = list(storage.get_episodes(range(storage.total_episodes)))
    except Exception as exc:  # noqa: BLE001 - h5py/minari raise many types for a damaged file
        raise _bad(path, f"main_data.hdf5: unreadable ({exc.__class__.__name__}: {exc})") from None
    episodes = [_episode(path, i, ep, obs_space, act_space) for i, ep in enumerate(raw_eps)]
    if not episodes:
        raise _bad(path, "episodes: the dataset holds no episode")
    return Trajectories(episodes, meta, obs_space, act_space)


def _episode(path, i: int, ep: dict, obs_space, act_space) -> Episode:
    where = f"episode {i}"
    obs = np.asarray(ep["observations"], dtype=np.float64)
    act = np.asarray(ep["actions"], dtype=np.float64)
    T = len(act)
    t = np.asarray((ep.get("infos") or {}).get("t", np.arange(T + 1, dtype=np.float64)), dtype=np.float64)
    fields = {"observations": (obs, (T + 1, *obs_space.shape)), "actions": (act, (T, *act_space.shape)),
              "rewards": (np.asarray(ep["rewards"], np.float64), (T,)),
              "terminations": (np.asarray(ep["terminations"], bool), (T,)),
              "truncations": (np.asarray(ep["truncations"], bool), (T,)), "timestamps": (t, (T + 1,))}
    for name, (arr, shape) in fields.items():
        if arr.shape != shape:
            raise _bad(path, f"{where}: field '{name}' has shape {arr.shape}, expected {shape}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise _bad(path, f"{where}: field '{name}' holds NaN or inf")
    if T < 1:
        raise _bad(path, f"{where}: field 'actions' is empty")
    if np.any(np.diff(t) <= 0):
        raise _bad(path, f"{where}: field 'timestamps' is not strictly increasing")
    return Episode(obs, act, fields["rewards"][0], fields["terminations"][0], fields["truncations"][0], t)


def _load_arrays(src: Path) -> dict[str, np.ndarray]:
    if src.suffix == ".npz":
        try:
            with np.load(src, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError) as exc:
            raise _bad(src, f"not a readable npz ({exc})") from None
    if src.suffix == ".csv":
        try:
            with src.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise _bad(src, f"not a readable CSV ({exc})") from None
        if not rows:
            raise _bad(src, "the CSV holds no rows")
        cols: dict[str, np.ndarray] = {}
        for name in rows[0]:
            try:
                cols[name] = np.array([float(r[name]) if r[name] not in ("", None) else np.nan for r in rows])
            except ValueError:
                raise _bad(src, f"column '{name}' holds a value that is not a number") from None
        out = {k: cols[k] for k in ("episode", "t", "reward", "terminated", "truncated") if k in cols}
        for prefix, key in (("obs_", "observations"), ("act_", "actions")):
            names = sorted((c for c in cols if c.startswith(prefix)), key=lambda c: int(c[len(prefix):]))
            if names:
                out[key] = np.stack([cols[c] for c in names], axis=1)
        return out
    raise _bad(src, "expected a .npz or .csv file of arrays")


def convert_arrays(src, out, *, env_id: str, control_period: float | None = None,
                   observation_space: gym.Space | None = None, action_space: gym.Space | None = None,
                   metadata: dict | None = None) -> Trajectories:
    """Convert a plain ``.npz`` / ``.csv`` of arrays (one row per observation) into a dataset at ``out``.

    Arrays (npz keys; CSV columns in brackets): ``episode (N,)`` [episode], ``t (N,)`` [t],
    ``observations (N, obs_dim)`` [obs_0..], ``actions (N, act_dim)`` [act_0..], ``reward (N,)`` [reward],
    ``terminated``/``truncated (N,)`` [terminated, truncated]. Row ``k`` holds the observation at time ``t[k]`` and
    the action taken from it with its reward and flags; an episode's last row is its final observation, its
    action/reward/flags are ignored (may be NaN or empty). Missing spaces default to unbounded boxes.
    """
    src = Path(src)
    arrs = _load_arrays(src)
    for key in ("episode", "t", "observations", "actions", "reward", "terminated", "truncated"):
        if key not in arrs:
            raise _bad(src, f"field '{key}' is missing")
    n = len(arrs["episode"])
    obs, act = arrs["observations"].astype(np.float64), arrs["actions"].astype(np.float64)
    obs = obs.reshape(n, -1) if obs.ndim == 1 else obs
    act = act.reshape(n, -1) if act.ndim == 1 else act
    for key in ("t", "reward", "terminated", "truncated"):
        if arrs[key].shape != (n,):
            raise _bad(src, f"field '{key}' has shape {arrs[key].shape}, expected ({n},) like 'episode'")
    for key, arr in (("observations", obs), ("actions", act)):
        if arr.ndim != 2 or len(arr) != n:
            raise _bad(src, f"field '{key}' has shape {arr.shape}, expected ({n}, dim)")
    obs_space = observation_space or gym.spaces.Box(-np.inf, np.inf, obs.shape[1:], np.float64)
    act_space = action_space or gym.spaces.Box(-np.inf, np.inf, act.shape[1:], np.float32)
    if tuple(obs_space.shape) != obs.shape[1:] or tuple(act_space.shape) != act.shape[1:]:
        raise _bad(src, f"field 'observations'/'actions' has widths {obs.shape[1:]}/{act.shape[1:]}, the spaces "
                        f"{obs_space.shape}/{act_space.shape}")
    ep_ids = arrs["episode"]
    if not np.isfinite(ep_ids).all() or not np.isfinite(arrs["t"]).all() or not np.isfinite(obs).all():
        bad = next(k for k, a in (("episode", ep_ids), ("t", arrs["t"]), ("observations", obs))
                   if not np.isfinite(a).all())
        raise _bad(src, f"field '{bad}' holds NaN or inf")
    bounds = np.flatnonzero(np.diff(ep_ids) != 0) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, n]
    if len(set(ep_ids[starts].tolist())) != len(starts):
        raise _bad(src, "field 'episode': an episode's rows are not contiguous")
    out = Path(out)
    if out.exists():
        raise SimtransferError(f"{out}: already exists; trajectories are never overwritten")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with TrajectoryWriter(tmp, env_id=env_id, observation_space=obs_space, action_space=act_space,
                              control_period=control_period,
                              metadata={"converted_from": src.name, **(metadata or {})}) as w:
            for s, e in zip(starts, ends):
                if not np.isfinite(act[s:e - 1]).all():
                    raise _bad(src, f"field 'actions' holds NaN or inf in episode {ep_ids[s]:g}")
                if e - s < 2:
                    raise _bad(src, f"field 'episode': episode {ep_ids[s]:g} has fewer than 2 rows (one step)")
                if np.any(np.diff(arrs["t"][s:e]) <= 0):
                    raise _bad(src, f"field 't' is not strictly increasing in episode {ep_ids[s]:g}")
                w.start_episode(obs[s], t=float(arrs["t"][s]))
                for k in range(s, e - 1):
                    w.add_step(act[k], obs[k + 1], float(arrs["reward"][k]), bool(arrs["terminated"][k]),
                               bool(arrs["truncated"][k]) or k == e - 2 and not arrs["terminated"][k],
                               t=float(arrs["t"][k + 1]))
                w.end_episode()
        data = read_trajectories(tmp)
        if out.exists():
            raise SimtransferError(f"{out}: already exists; trajectories are never overwritten")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return data
