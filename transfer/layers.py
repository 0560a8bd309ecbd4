"""Address the layers of an SB3 policy by block name or depth instead of raw parameter names.

Every trainable parameter of a policy belongs to one *block*:

==============  ====================================================  =================================
algorithm        block names (in depth order)                          SB3 parameters
==============  ====================================================  =================================
PPO, A2C         ``features`` ``pi.0`` ``pi.1`` ... ``action_head``    ``mlp_extractor.policy_net.N``,
                 ``features`` ``vf.0`` ``vf.1`` ... ``value_head``     ``action_net``, ``log_std``,
                                                                       ``mlp_extractor.value_net.N``,
                                                                       ``value_net``
SAC              ``features`` ``actor.0`` ... ``action_head``          ``actor.latent_pi.N``,
                 ``features`` ``critic.0`` ... ``value_head``          ``actor.mu``, ``actor.log_std``,
                                                                       ``critic.qfK.N`` (last = head)
TD3              ``actor.0`` ... ``action_head`` / ``critic.*``        ``actor.mu.N`` (last = head)
DQN              ``features`` ``q.0`` ``q.1`` ... ``value_head``       ``q_net.q_net.N`` (last = head)
==============  ====================================================  =================================

``features`` is any ``*features_extractor*`` (it only exists when the extractor has parameters, e.g. a
learned observation adapter).  Target networks (``critic_target``, ``actor_target``, ``q_net_target``) belong to
no block: they are never frozen or loaded directly, they are re-synced from the online networks.  Anything
unknown (e.g. progressive-net columns) is in block ``other``.

Selectors accepted by :func:`select_parameters`: a block name (``pi.0``), a group (``trunk``, ``heads``,
``actor``, ``critic``, ``all``), a glob on parameter names (``mlp_extractor.policy_net.*``), or
``depth:K`` (the first K blocks of every chain).

>>> from stable_baselines3 import PPO
>>> model = PPO("MlpPolicy", "CartPole-v1", device="cpu")   # doctest: +SKIP
>>> block_map(model.policy)["pi.0"]                        # doctest: +SKIP
['mlp_extractor.policy_net.0.weight', 'mlp_extractor.policy_net.0.bias']
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from torch import nn

from simtransfer.envs.errors import SimtransferError

HEADS = ("action_head", "value_head")
GROUPS = ("all", "trunk", "heads", "actor", "critic")

# (regex on the parameter name, block prefix, chain) for containers of numbered layers.  The ordinal of a
# layer is its rank among the numbered Linear layers of its container; ``last_is_head`` makes the last one a head.
_NUMBERED: list[tuple[re.Pattern[str], str, str, str | None]] = [
    (re.compile(r"^(mlp_extractor\.policy_net)\.(\d+)\."), "pi", "actor", None),
    (re.compile(r"^(mlp_extractor\.value_net)\.(\d+)\."), "vf", "critic", None),
    (re.compile(r"^(mlp_extractor\.shared_net)\.(\d+)\."), "shared", "actor", None),
    (re.compile(r"^(actor\.latent_pi)\.(\d+)\."), "actor", "actor", None),
    (re.compile(r"^(actor\.mu)\.(\d+)\."), "actor", "actor", "action_head"),
    (re.compile(r"^(critic\.qf\d+)\.(\d+)\."), "critic", "critic", "value_head"),
    (re.compile(r"^(q_net\.q_net)\.(\d+)\."), "q", "critic", "value_head"),
]
_FIXED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(^|\.)(pi_|vf_)?features_extractor\."), "features"),
    (re.compile(r"^(action_net\.|log_std$)"), "action_head"),
    (re.compile(r"^actor\.(mu|log_std)\.(weight|bias)$"), "action_head"),
    (re.compile(r"^value_net\."), "value_head"),
]
_TARGET = re.compile(r"(^|\.)\w+_target\.")


def is_target_param(name: str) -> bool:
    """True for parameters of target networks (``critic_target.*``, ``actor_target.*``, ``q_net_target.*``)."""
    return bool(_TARGET.search(name))


def assign_blocks(names: Iterable[str]) -> dict[str, str | None]:
    """Map each parameter name to its block name (``None`` for target-network parameters)."""
    names = list(names)
    indices: dict[str, set[int]] = {}
    for n in names:
        for pat, _, _, _ in _NUMBERED:
            m = pat.match(n)
            if m:
                indices.setdefault(m.group(1), set()).add(int(m.group(2)))
    ranks = {c: sorted(ix) for c, ix in indices.items()}
    out: dict[str, str | None] = {}
    for n in names:
        out[n] = _block_of(n, ranks)
    return out


def _block_of(name: str, ranks: dict[str, list[int]]) -> str | None:
    if is_target_param(name):
        return None
    for pat, block in _FIXED:
        if pat.search(name):
            return block
    for pat, prefix, _, head in _NUMBERED:
        m = pat.match(name)
        if m:
            order = ranks[m.group(1)]
            idx = int(m.group(2))
            if head is not None and idx == order[-1]:
                return head
            return f"{prefix}.{order.index(idx)}"
    return "other"


def block_map(policy: nn.Module) -> dict[str, list[str]]:
    """Block name → parameter names of ``policy`` (in ``named_parameters`` order; targets excluded)."""
    names = [n for n, _ in policy.named_parameters()]
    out: dict[str, list[str]] = {}
    for n, b in assign_blocks(names).items():
        if b is not None:
            out.setdefault(b, []).append(n)
    return out


def _chain_of(block: str) -> str | None:
    if block == "action_head" or block.split(".")[0] in ("pi", "actor", "shared"):
        return "actor"
    if block == "value_head" or block.split(".")[0] in ("vf", "critic", "q"):
        return "critic"
    return None


def chains(policy: nn.Module) -> dict[str, list[str]]:
    """Depth-ordered block names per chain, e.g. ``{"actor": ["pi.0", "pi.1", "action_head"], "critic": [...]}``.

    ``features`` (when it has parameters) is depth 0 of every chain.
    """
    blocks = block_map(policy)
    out: dict[str, list[str]] = {}
    for chain in ("actor", "critic"):
        members = [b for b in blocks if _chain_of(b) == chain]
        if not members:
            continue
        hidden = sorted((b for b in members if b not in HEADS), key=lambda b: (b.split(".")[0], int(b.split(".")[1])))
        heads = [b for b in members if b in HEADS]
        out[chain] = (["features"] if "features" in blocks else []) + hidden + heads
    return out


def block_depths(policy: nn.Module) -> dict[str, tuple[int, int]]:
    """Block → (depth, chain length); a block shared by chains gets its smallest depth."""
    out: dict[str, tuple[int, int]] = {}
    for seq in chains(policy).values():
        for d, b in enumerate(seq):
            if b not in out or d < out[b][0]:
                out[b] = (d, len(seq))
    return out


def select_parameters(policy: nn.Module, selectors: Iterable[str | int]) -> list[str]:
    """Parameter names (targets excluded) matched by any selector; an unknown selector is a one-line error."""
    blocks = block_map(policy)
    chain_seq = chains(policy)
    chosen: set[str] = set()
    for sel in selectors:
        sel = str(sel).strip()
        names = _resolve(sel, blocks, chain_seq)
        if not names:
            known = ", ".join(sorted(blocks)) or "none"
            raise SimtransferError(
                f"layer selector '{sel}' matches no parameter (blocks: {known}; groups: {', '.join(GROUPS)}; "
                "or depth:K, or a glob on parameter names)"
            )
        chosen.update(names)
    order = [n for n, _ in policy.named_parameters()]
    return [n for n in order if n in chosen]


def _resolve(sel: str, blocks: dict[str, list[str]], chain_seq: dict[str, list[str]]) -> list[str]:
    if sel in blocks:
        return list(blocks[sel])
    if sel.startswith("depth:") or sel.isdigit():
        try:
            k = int(sel.split(":")[-1])
        except ValueError:
            raise SimtransferError(f"bad depth selector '{sel}': expected depth:K with an integer K") from None
        picked = {b for seq in chain_seq.values() for b in seq[:k]}
        return [n for b in picked for n in blocks.get(b, [])]
    if sel == "all":
        return [n for ns in blocks.values() for n in ns]
    if sel == "heads":
        return [n for b in HEADS for n in blocks.get(b, [])]
    if sel == "trunk":
        return [n for b, ns in blocks.items() if b not in HEADS for n in ns]
    if sel in ("actor", "critic"):
        return [n for b in chain_seq.get(sel, []) for n in blocks.get(b, []) if b != "features"]
    all_names = [n for ns in blocks.values() for n in ns]
    return [n for n in all_names if fnmatch.fnmatchcase(n, sel)]
