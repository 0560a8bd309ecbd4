"""Load the source runs' weights into a progressive policy's frozen columns (and its source heads).

Tensor names are mapped from the source's layout (a plain SB3 policy, or a progressive one bringing its own
columns) to the column they fill; see :func:`load_source_columns`. With ``fast=True`` an on-policy model also
gets the indexed rollout buffer (frozen columns once per rollout).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simtransfer.envs.errors import SimtransferError
from simtransfer.transfer.progressive._cache import use_indexed_rollout_buffer
from simtransfer.transfer.progressive._spec import HEADS, PLAIN, TOWERS, _policy_kwargs, _widths, read_source


def _policy_and_algo(model_or_policy: Any) -> tuple[Any, str]:
    policy = getattr(model_or_policy, "policy", model_or_policy)
    name = type(policy).__name__
    algo = {"ProgressiveSACPolicy": "sac", "ProgressiveTD3Policy": "td3"}.get(name, "ppo")
    if not hasattr(policy, "source_heads"):
        raise SimtransferError(f"{name} is not a progressive policy")
    return policy, algo


def _source_key(ours: str, k: int, col: dict, src_state: dict, src_meta: dict, algo: str) -> str:
    """The name in the source run's weights of our tensor ``ours`` (belonging to frozen column ``k``)."""
    c = col["origin"]["column"]
    src_algo = col.get("algo", algo)
    if ours.startswith(f"source_heads.{k}."):
        name = ours[len(f"source_heads.{k}.") :]
        n_src_cols = len(_policy_kwargs(src_meta).get("columns", [])) if c is not None else 0
        if c is not None and c < n_src_cols:
            return f"source_heads.{c}.{name}"
        head, _, rest = name.partition(".")
        plain = HEADS[src_algo][head]
        if "{last}" in plain:
            last = 1 if c is not None else 2 * (len(_widths(src_state, "actor.mu")[0]) - 1)
            plain = plain.format(last=last)
        return plain + (f".{rest}" if rest else "")
    for alias in ("pi_features_extractor.", "vf_features_extractor."):  # SB3 aliases of a shared extractor
        if ours.startswith(alias):
            ours = ours[len(alias) - len("features_extractor.") :]
    if ours.startswith("features_extractor.net.columns."):
        rest = ours[len(f"features_extractor.net.columns.{k}.") :]
        if c is not None:
            return f"features_extractor.net.columns.{c}.{rest}"
        layer, _, tail = rest.partition(".")
        if layer == "linear":
            return f"features_extractor.linear.0.{tail}"
        idx, _, tail = tail.partition(".")
        return f"features_extractor.cnn.{2 * int(idx)}.{tail}"
    for tower, prefixes in TOWERS[algo].items():
        for prefix in prefixes:
            m = re.fullmatch(re.escape(prefix).replace(r"\{q\}", r"(\d+)") + rf"\.columns\.{k}\.(.*)", ours)
            if not m:
                continue
            q = int(m.group(1)) if "{q}" in prefix else 0
            n_q = int(col.get("n_critics", 2)) or 1
            rest = m.group(m.lastindex)
            if c is not None:
                return TOWERS[src_algo][tower][0].format(q=q % n_q) + f".columns.{c}.{rest}"
            layer = re.fullmatch(r"layers\.(\d+)\.(weight|bias)", rest)
            if layer is None:
                break
            return PLAIN[src_algo][tower].format(q=q % n_q) + f".{2 * int(layer.group(1))}.{layer.group(2)}"
    raise SimtransferError(f"cannot map {ours} to a tensor of source run {col['origin']['run']}")


def load_source_columns(model_or_policy: Any, source_run_dirs: Sequence[str | Path]) -> list[str]:
    """Copy each frozen column's weights (and its own task heads) from the source runs; returns the names set.

    The source runs must be the ones given to :func:`progressive_policy_spec`, in the same order. Given a
    PPO/A2C model whose policy was built with ``fast=True``, it also switches the model to an indexed rollout
    buffer, so that the frozen columns run once per rollout instead of once per minibatch and epoch.
    """
    policy, algo = _policy_and_algo(model_or_policy)
    if getattr(policy, "fast", False):
        use_indexed_rollout_buffer(model_or_policy)
    runs = [read_source(run) for run in source_run_dirs]
    ours = policy.state_dict()
    loaded: list[str] = []
    for k, col in enumerate(policy.columns):
        r = int(col["origin"]["run"])
        if r >= len(runs):
            raise SimtransferError(f"column {k} comes from source run {r} but only {len(runs)} runs were given")
        state, meta = runs[r]
        mine = re.compile(rf"(.*\.columns\.{k}\.|source_heads\.{k}\.)")
        for name in [n for n in ours if mine.match(n)]:
            key = _source_key(name, k, col, state, meta, algo)
            if key not in state and key.startswith("features_extractor."):
                key = "pi_" + key
            if key not in state:
                raise SimtransferError(f"source run {source_run_dirs[r]} has no tensor '{key}' (for {name})")
            if state[key].shape != ours[name].shape:
                raise SimtransferError(
                    f"source tensor '{key}' has shape {tuple(state[key].shape)}, column {k} needs {tuple(ours[name].shape)}"
                )
            ours[name].copy_(state[key])
            loaded.append(name)
    return loaded
