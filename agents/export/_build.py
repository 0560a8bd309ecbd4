"""From a loaded run to an :class:`ExportedGraph` and the metadata that travels with it.

The run's adapters are rebuilt on its own env (the robot's stand-in) so their index maps and bounds are read
from the very wrappers the framework uses; adapters that only make sense in simulation (noise, pushes,
privileged context) cannot be exported and give a one-line error.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy

from simtransfer.agents.algos import ALGORITHMS
from simtransfer.agents.export._dict import DictSplit, dict_keys
from simtransfer.agents.export._graph import (
    ActionIndexStage,
    ClipStage,
    ExportedGraph,
    HistoryStage,
    Normalize,
    ObsIndexStage,
    PolicyCore,
    RecurrentCore,
)
from simtransfer.agents.policy_io import LoadedPolicy, describe_space, space_to_json
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import apply_wrappers, make_env, parse_env_spec

FORMAT = "simtransfer-export/1"

# wrapper class (module.qualname) -> kind; read by attributes, so the agents layer imports nothing above it
OBS_INDEX = "simtransfer.transfer.adapters.ObsIndexMap"
ACTION_INDEX = "simtransfer.transfer.adapters.ActionIndexMap"
HISTORY = "simtransfer.envs.history.HistoryObservation"
CLIP = "gymnasium.wrappers.transform_action.ClipAction"
EXPORTABLE = (OBS_INDEX, ACTION_INDEX, HISTORY, CLIP)
CONTEXT = "simtransfer.envs.wrappers.ContextObservation"


def _refuse_context(env: gym.Env) -> None:
    """A context-conditioned env (``context_in_obs`` / ``context_obs``) appends the simulator's TRUE parameters to
    the observation: an exported file would ask the robot for values it does not measure."""
    w = env
    while isinstance(w, gym.Wrapper):
        if _class_path(w) == CONTEXT:
            n = w.observation_space.shape[0] - w.env.observation_space.shape[0]
            raise SimtransferError(
                "cannot export a context-conditioned policy (ContextObservation, context_in_obs): its observation "
                f"ends with the simulator's true parameters ({n} values), which a robot does not measure; train it "
                "with a history stack (history) instead")
        w = w.env


def _class_path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _torch_dtype(dtype: Any) -> torch.dtype:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}.get(np.dtype(dtype),
                                                                                        torch.float32)


def adapter_chain(env: gym.Env, adapters: list[Any]) -> tuple[gym.Env, list[gym.Wrapper]]:
    """(the wrapped env, the adapter wrappers innermost first)."""
    wrapped = apply_wrappers(env, adapters)
    chain: list[gym.Wrapper] = []
    w = wrapped
    while w is not env:
        chain.append(w)
        w = w.env
    return wrapped, chain[::-1]


def _stage(w: gym.Wrapper) -> tuple[str, torch.nn.Module]:
    path = _class_path(w)
    if path == OBS_INDEX:
        return "obs", ObsIndexStage(list(w.index), w.fill)
    if path == ACTION_INDEX:
        inner = w.env.action_space
        return "act", ActionIndexStage(list(w.index), np.asarray(w.scale), w.fill, inner.low, inner.high,
                                       _torch_dtype(inner.dtype))
    if path == HISTORY:
        return "history", HistoryStage(w.k, w.obs_dim, w.act_dim, w._discrete, w.include_actions)
    if path == CLIP:
        return "act", ClipStage(w.env.action_space.low, w.env.action_space.high)
    raise SimtransferError(f"cannot export adapter {type(w).__name__} ({path}): only "
                           f"{', '.join(p.rsplit('.', 1)[1] for p in EXPORTABLE)} have an exported form")


def control_period(env: gym.Env) -> float | None:
    """Seconds between actions: ``dt`` (MuJoCo), the Bullet scene's ``dt``, ``tau`` (classic control), or
    ``1 / render_fps``."""
    u = env.unwrapped
    for value in (getattr(u, "dt", None), getattr(getattr(u, "scene", None), "dt", None), getattr(u, "tau", None)):
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    fps = (env.metadata or {}).get("render_fps")
    return 1.0 / float(fps) if fps else None


def _core(policy: LoadedPolicy) -> tuple[Any, bool]:
    model = policy.model
    space = model.action_space
    if isinstance(space, spaces.Box):
        box = (space.low, space.high)
    elif isinstance(space, spaces.Discrete | spaces.MultiDiscrete):  # argmax (per component)
        if np.any(np.asarray(space.start) != 0):
            raise SimtransferError(f"cannot export a {type(space).__name__} action space with start "
                                   f"{np.asarray(space.start).tolist()}")
        box = None
    else:
        raise SimtransferError(f"cannot export action space {describe_space(space)} (Box, Discrete or "
                               "MultiDiscrete only)")
    recurrent = hasattr(model.policy, "lstm_actor")
    if recurrent and not isinstance(model.policy, ActorCriticPolicy):
        raise SimtransferError(f"cannot export recurrent policy {type(model.policy).__name__}")
    cls = RecurrentCore if recurrent else PolicyCore
    return cls(model.policy, box, bool(model.policy.squash_output), space.shape or ()), recurrent


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 over the exported graph's parameters and buffers (names, shapes and float64 values)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().to(torch.float64).numpy().tobytes() if t.is_floating_point()
                 else t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def build_graph(policy: LoadedPolicy, env_spec: Any = None) -> tuple[ExportedGraph, dict[str, Any], gym.Env]:
    """(graph, metadata, the raw env it was built on: close it) for a loaded run; ``env_spec`` defaults to the
    run's training env (the raw observation/action layout comes from it)."""
    spec = parse_env_spec(env_spec if env_spec is not None else policy.config.env)
    env = make_env(spec, seed=0)
    try:
        env.reset(seed=0)
        _refuse_context(env)
        _, chain = adapter_chain(env, list(policy.config.adapters))
        stages = [_stage(w) for w in chain]
        normalize: torch.nn.Module | None = None
        if isinstance(policy.model.observation_space, spaces.Dict):  # flat input, split (and normalized) by key
            if stages:
                raise SimtransferError("cannot export adapters on a Dict observation (they act on flat vectors): "
                                       f"{', '.join(type(w).__name__ for w in chain)}")
            normalize = DictSplit(dict_keys(policy.model.observation_space), policy.normalizer)
        elif policy.normalizer is not None:
            n = policy.normalizer
            normalize = Normalize(n.mean, n.var, n.clip_obs, n.epsilon)
        core, recurrent = _core(policy)
        graph = ExportedGraph(stages, normalize, core, recurrent).eval()
        metadata = _metadata(policy, graph, env, spec)
    except BaseException:
        env.close()
        raise
    return graph, metadata, env


def _metadata(policy: LoadedPolicy, graph: ExportedGraph, env: gym.Env, spec: Any) -> dict[str, Any]:
    meta = policy.metadata
    obs_space, act_space = env.observation_space, env.action_space
    state = [{"name": n, "shape": list(t.shape[1:])} for n, t in zip(graph.state_names(), graph.initial_state())]
    inputs = ["observation"] + (["episode_start"] + [f"{s['name']}_in" for s in state] if graph.stateful else [])
    outputs = ["action"] + [f"{s['name']}_out" for s in state]
    observation = {"space": space_to_json(obs_space), "shape": list(obs_space.shape or ()), "dtype": "float32"}
    if isinstance(obs_space, spaces.Dict):  # the file takes one flat vector: these keys in this order
        keys = dict_keys(obs_space)
        observation.update(shape=[sum(math.prod(k["shape"]) for k in keys)], keys=keys,
                           layout="the keys in this order, each value flattened row-major, concatenated")
    discrete = isinstance(act_space, spaces.Discrete | spaces.MultiDiscrete)
    return {
        "format": FORMAT,
        "algo": policy.config.algo,
        "algorithm_class": ALGORITHMS[policy.config.algo][0],
        "policy_class": type(policy.model.policy).__name__,
        "observation": observation,
        "action": {"space": space_to_json(act_space), "shape": list(act_space.shape or ()),
                   "dtype": "int64" if discrete else "float32"},
        "policy_observation_space": space_to_json(policy.observation_space),
        "policy_action_space": space_to_json(policy.action_space),
        "control_period": control_period(env),
        "inputs": inputs,
        "outputs": outputs,
        "state": state,
        "stages": [k for k in graph.kinds] + ([] if graph.normalize is None else ["dict"] if isinstance(
            graph.normalize, DictSplit) else ["normalize"]),
        "weights_sha256": weights_hash(graph),
        "source": {"run_dir": str(policy.run_dir), "env": spec.model_dump(), "adapters": [
            a.model_dump() for a in policy.config.adapters], "run_weights_sha256": meta.get("weights_sha256"),
            "config_sha256": meta.get("config_sha256"), "lineage": meta.get("lineage"),
            "seed": policy.config.seed},
    }
