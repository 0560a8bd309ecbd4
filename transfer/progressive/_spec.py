"""Build progressive-policy kwargs from source runs (their weights go in with :func:`load_source_columns`).

A source run is a directory with ``policy.safetensors`` (SB3 parameter names) and ``metadata.json``
(``algo``, ``policy_class``, ``policy_kwargs``). Layer widths are read from the weights, so a plain SB3
run needs only ``algo`` (guessed from the names when absent) and ``policy_kwargs.activation_fn``. A run
that is itself progressive brings all its columns along: passing run B (trained progressively from A)
gives columns A, B, new — B keeps its laterals from A, as in Rusu et al.

>>> name, kwargs = progressive_policy_spec(["runs/pendulum"], env.observation_space,
...                                        env.action_space, "ppo")              # doctest: +SKIP
>>> name                                                                         # doctest: +SKIP
'progressive_actor_critic'
>>> model = PPO(import_object(name), env, policy_kwargs=kwargs)                  # doctest: +SKIP
>>> load_source_columns(model, ["runs/pendulum"])                                # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file

from simtransfer.agents.policy_io import read_run_metadata
from simtransfer.envs.components import registered_path
from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.progressive._cnn import NATURE_CNN
from simtransfer.transfer.progressive._columns import activation_name, check_index_map, compose_maps
from simtransfer.transfer.progressive._policies import POLICY_CLASSES

ON_POLICY, OFF_POLICY = {"ppo", "a2c"}, {"sac", "td3"}
DEFAULT_ACT = {"ppo": "tanh", "a2c": "tanh", "sac": "relu", "td3": "relu"}
# where each tower's columns live, per target algorithm (critics: one prefix per critic index)
TOWERS = {
    "ppo": {"pi": ["mlp_extractor.policy_tower"], "vf": ["mlp_extractor.value_tower"]},
    "sac": {"pi": ["actor.latent_pi"], "qf": ["critic.qf{q}.0", "critic_target.qf{q}.0"]},
    "td3": {"pi": ["actor.mu.0", "actor_target.mu.0"], "qf": ["critic.qf{q}.0", "critic_target.qf{q}.0"]},
}
TOWERS["a2c"] = TOWERS["ppo"]
PLAIN = {  # plain SB3 prefix of each tower's Linear layers (Sequential index 2*i)
    "ppo": {"pi": "mlp_extractor.policy_net", "vf": "mlp_extractor.value_net"},
    "sac": {"pi": "actor.latent_pi", "qf": "critic.qf{q}"},
    "td3": {"pi": "actor.mu", "qf": "critic.qf{q}"},
}
PLAIN["a2c"] = PLAIN["ppo"]
HEADS = {  # source head name -> plain SB3 name (for a plain run or a progressive run's new column)
    "ppo": {"action_net": "action_net", "value_net": "value_net", "log_std": "log_std"},
    "sac": {"mu": "actor.mu", "log_std": "actor.log_std"},
    "td3": {"mu": "actor.mu.{last}"},
}
HEADS["a2c"] = HEADS["ppo"]


def _family(algo: str) -> str:
    return "on" if algo in ON_POLICY else "off"


def read_source(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The policy tensors (without ``vecnormalize.*``) and metadata of a source run."""
    run = Path(run_dir)
    weights = run / "policy.safetensors"
    if not weights.is_file():
        raise SimtransferError(f"source run {run}: no policy.safetensors")
    try:
        state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("vecnormalize.")}
    except Exception as exc:  # corrupt file
        raise SimtransferError(f"source run {run}: cannot read policy.safetensors ({exc})") from None
    meta = read_run_metadata(run) if (run / "metadata.json").is_file() else {}
    return state, meta


def _meta_algo(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> str:
    algo = meta.get("algo") or (meta.get("config") or {}).get("algo")
    if algo:
        return str(algo).lower()
    if any(k.startswith("actor.latent_pi") for k in state) or "actor.log_std.weight" in state:
        return "sac"
    if any(k.startswith("actor.mu.") for k in state):
        return "td3"
    if "action_net.weight" in state:
        return "ppo"
    raise SimtransferError("cannot tell the source run's algorithm; metadata.json has no 'algo'")


def _policy_kwargs(meta: dict[str, Any]) -> dict[str, Any]:
    """The run's policy kwargs: ``policy_kwargs``, or the training pipeline's ``policy`` section flattened."""
    if meta.get("policy_kwargs"):
        return dict(meta["policy_kwargs"])
    pol = meta.get("policy") or (meta.get("config") or {}).get("policy") or {}
    out = dict(pol.get("kwargs") or {})
    for key in ("net_arch", "activation_fn"):
        if pol.get(key) is not None:
            out[key] = pol[key]
    return out


def _policy_class(meta: dict[str, Any]) -> str:
    """The source's policy class as a dotted path (a registered short name or an old path is looked up)."""
    pol = meta.get("policy") or {}
    name = str(meta.get("policy_class") or pol.get("policy_class") or (meta.get("network") or {}).get("policy_class") or "")
    return registered_path(name) or name


def _activation(meta: dict[str, Any], algo: str) -> str:
    fn = _policy_kwargs(meta).get("activation_fn")
    if fn is None:
        return DEFAULT_ACT.get(algo, "tanh")
    if isinstance(fn, str) and fn.lower() not in DEFAULT_ACT.values():
        fn = re.split(r"[.:]", fn)[-1]  # "torch.nn:Tanh" -> "Tanh"
        fn = {"leakyrelu": "leaky_relu"}.get(fn.lower(), fn.lower())
    return activation_name(fn)


def _widths(state: dict[str, torch.Tensor], prefix: str) -> tuple[list[int], int | None]:
    """Widths of the Linear layers at ``prefix.0``, ``prefix.2``, ... and the first layer's input size."""
    widths, i = [], 0
    while f"{prefix}.{i}.weight" in state:
        widths.append(int(state[f"{prefix}.{i}.weight"].shape[0]))
        i += 2
    first = state.get(f"{prefix}.0.weight")
    return widths, (None if first is None else int(first.shape[1]))


def _plain_column(state: dict[str, torch.Tensor], meta: dict[str, Any], algo: str) -> dict[str, Any]:
    act = _activation(meta, algo)
    col: dict[str, Any] = {"algo": algo, "activation_fn": act, "lateral_from": []}
    if algo in ON_POLICY:
        if "features_extractor.cnn.0.weight" in state:
            convs = _widths(state, "features_extractor.cnn")[0]
            kernels = [int(state[f"features_extractor.cnn.{2 * i}.weight"].shape[-1]) for i in range(len(convs))]
            if kernels != [c[1] for c in NATURE_CNN] or _widths(state, "mlp_extractor.policy_net")[0]:
                raise SimtransferError("CNN source columns must be SB3 NatureCNN policies with an empty net_arch")
            col["conv_arch"] = [[c, k, s] for c, (_, k, s) in zip(convs, NATURE_CNN)]
            col["features_dim"] = int(state["features_extractor.linear.0.weight"].shape[0])
        else:
            col["pi"], obs_dim = _widths(state, "mlp_extractor.policy_net")
            col["vf"] = _widths(state, "mlp_extractor.value_net")[0]
            col["obs_dim"] = obs_dim if obs_dim is not None else int(state["action_net.weight"].shape[1])
        col["action_dim"] = int(state["action_net.weight"].shape[0])
        col["action_kind"] = "box" if "log_std" in state else "discrete"
        return col
    pi_prefix = PLAIN[algo]["pi"]
    pi, obs_dim = _widths(state, pi_prefix)
    if algo == "td3":
        pi, head = pi[:-1], f"actor.mu.{2 * (len(pi) - 1)}.weight"
    else:
        head = "actor.mu.weight"
    qf, q_in = _widths(state, "critic.qf0")
    col.update(pi=pi, qf=qf[:-1], action_dim=int(state[head].shape[0]), action_kind="box")
    col["obs_dim"] = obs_dim if obs_dim is not None else int(state[head].shape[1])
    col["n_critics"] = sum(1 for k in state if re.fullmatch(r"critic\.qf\d+\.0\.weight", k))
    if q_in != col["obs_dim"] + col["action_dim"]:
        raise SimtransferError("source critic input is not observation + action; cannot build a column")
    return col


def _source_columns(run: int, state: dict, meta: dict, algo: str, obs_map: Any, act_map: Any, offset: int):
    """Column dicts a source run contributes (re-indexed from ``offset``; maps relative to the target)."""
    if "Progressive" not in _policy_class(meta) and not any(".columns." in k for k in state):
        col = _plain_column(state, meta, algo)
        col.update(obs_index_map=obs_map, origin={"run": run, "column": None})
        if algo in OFF_POLICY:
            col["action_index_map"] = act_map
        return [col]
    kw = _policy_kwargs(meta)
    if "columns" not in kw:
        raise SimtransferError(f"progressive source run {run}: metadata policy_kwargs has no 'columns'")
    own = [dict(c) for c in kw["columns"]]
    out = []
    for c, col in enumerate(own):
        col["obs_index_map"] = compose_maps(col.get("obs_index_map"), obs_map)
        if algo in OFF_POLICY:
            col["action_index_map"] = compose_maps(col.get("action_index_map"), act_map)
        col["lateral_from"] = [offset + j for j in col.get("lateral_from", [])]
        col["origin"] = {"run": run, "column": c}
        out.append(col)
    new = _new_column_of_progressive(state, kw, algo, len(own))
    new.update(
        lateral_from=[offset + j for j in range(len(own))],
        lateral_obs_maps=[c.get("obs_index_map") for c in kw["columns"]],
        obs_index_map=obs_map,
        origin={"run": run, "column": len(own)},
    )
    if algo in OFF_POLICY:
        new["action_index_map"] = act_map
    return [*out, new]


def _new_column_of_progressive(state: dict, kw: dict, algo: str, n: int) -> dict[str, Any]:
    """Describe the trained (last) column of a progressive source run from its kwargs and weights."""
    act = _activation({"policy_kwargs": kw}, algo)
    col: dict[str, Any] = {"algo": algo, "activation_fn": act}
    for key in ("adapter_width", "head_laterals"):
        if key in kw:
            col[key.replace("laterals", "lateral")] = kw[key]
    if "conv_arch" in kw or any(k.startswith("features_extractor.net.") for k in state):
        col["conv_arch"] = kw.get("conv_arch") or NATURE_CNN
        col["features_dim"] = int(kw.get("features_dim", 512))
        col["action_dim"] = int(state["action_net.weight"].shape[0])
        col["action_kind"] = "box" if "log_std" in state else "discrete"
        return col
    for tower, prefixes in TOWERS[algo].items():
        p = prefixes[0].format(q=0) + f".columns.{n}.layers"
        widths, in_dim = [], None
        i = 0
        while f"{p}.{i}.weight" in state:
            widths.append(int(state[f"{p}.{i}.weight"].shape[0]))
            in_dim = in_dim if in_dim is not None else int(state[f"{p}.{i}.weight"].shape[1])
            i += 1
        col[tower] = widths
        if tower == "pi":
            if in_dim is None:
                raise SimtransferError("progressive source runs need at least one hidden policy layer")
            col["obs_dim"] = in_dim
    if algo in ON_POLICY:
        col["action_dim"] = int(state["action_net.weight"].shape[0])
        col["action_kind"] = "box" if "log_std" in state else "discrete"
    else:
        head = "actor.mu.weight" if algo == "sac" else "actor.mu.1.weight"
        col.update(action_dim=int(state[head].shape[0]), action_kind="box")
    return col


def _flat_dim(space: spaces.Space) -> int:
    return int(np.prod(space.shape)) if isinstance(space, spaces.Box) else spaces.flatdim(space)


def progressive_policy_spec(
    source_run_dirs: Sequence[str | Path],
    target_obs_space: spaces.Space,
    target_action_space: spaces.Space,
    algo: str,
    *,
    net_arch: Any = None,
    activation_fn: str | None = None,
    alpha_init: float = 0.01,
    adapter_width: int | None = None,
    head_laterals: bool = True,
    obs_index_maps: Sequence[Sequence[int] | None] | None = None,
    action_index_maps: Sequence[Sequence[int] | None] | None = None,
    conv_arch: list[list[int]] | None = None,
    features_dim: int = 512,
    fast: bool = False,
) -> tuple[str, dict[str, Any]]:
    """``(policy_class_name, policy_kwargs)`` of a progressive policy over the given source runs.

    The name is the class's registered short name (``progressive_actor_critic``, ``progressive_sac``,
    ``progressive_td3``): what a run's ``config.yaml`` stores; ``import_object(name)`` gives the class.

    ``obs_index_maps[r]`` maps the target observation into source run ``r``'s observation (one entry per
    source input: a target index, or -1 for zero); None means identical spaces. ``action_index_maps``
    does the same for the action inputs of SAC/TD3 critics. ``fast`` turns on the opt-in speed-ups (see
    :mod:`simtransfer.transfer.progressive`). All returned kwargs are JSON-serialisable.
    """
    algo = algo.lower()
    if algo not in POLICY_CLASSES:
        raise SimtransferError(f"progressive policies support {', '.join(POLICY_CLASSES)}, not '{algo}'")
    if not source_run_dirs:
        raise SimtransferError("progressive transfer needs at least one source run")
    n = len(source_run_dirs)
    obs_maps = list(obs_index_maps) if obs_index_maps is not None else [None] * n
    act_maps = list(action_index_maps) if action_index_maps is not None else [None] * n
    if len(obs_maps) != n or len(act_maps) != n:
        raise SimtransferError(f"give one obs/action index map per source run ({n})")
    image = isinstance(target_obs_space, spaces.Box) and len(target_obs_space.shape) == 3
    n_obs = None if image else _flat_dim(target_obs_space)
    n_act = _flat_dim(target_action_space) if isinstance(target_action_space, spaces.Box) else None
    columns: list[dict[str, Any]] = []
    for r, run in enumerate(source_run_dirs):
        state, meta = read_source(run)
        src_algo = _meta_algo(meta, state)
        if _family(src_algo) != _family(algo):
            raise SimtransferError(f"source run {run} is {src_algo}; progressive {algo} needs a same-family source")
        new = _source_columns(r, state, meta, src_algo, obs_maps[r], act_maps[r], len(columns))
        for col in new:
            if "conv_arch" in col:
                if not image:
                    raise SimtransferError(f"source run {run} has CNN columns but the target observations are not images")
                continue
            check_index_map(col.get("obs_index_map"), n_obs, int(col["obs_dim"]), f"source run {run} observations")
            if algo in OFF_POLICY:
                check_index_map(col.get("action_index_map"), n_act, int(col["action_dim"]), f"source run {run} actions")
        columns.extend(new)
    if image and any("conv_arch" not in c for c in columns):
        raise SimtransferError("image targets need CNN source columns (SB3 CnnPolicy runs)")
    kwargs: dict[str, Any] = {
        "columns": columns,
        "activation_fn": activation_name(activation_fn or DEFAULT_ACT[algo]),
        "alpha_init": float(alpha_init),
        "adapter_width": adapter_width,
        "head_laterals": bool(head_laterals),
    }
    if net_arch is not None:
        kwargs["net_arch"] = net_arch
    if fast:
        kwargs["fast"] = True
    if image:
        kwargs.update(conv_arch=conv_arch or NATURE_CNN, features_dim=int(features_dim))
    json.dumps(kwargs)  # the contract: everything must serialise
    return POLICY_CLASSES[algo], kwargs
