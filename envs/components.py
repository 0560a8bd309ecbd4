"""Registered short names for the classes run files name, and the table of paths earlier runs wrote.

A run's ``config.yaml`` / ``metadata.json`` name a progressive policy by a short name (``policy_class:
progressive_actor_critic``) instead of a dotted path, so the code behind it can move without breaking runs.
This module is data at the bottom layer: a name maps to a ``"module:Class"`` string, imported only when a
config is resolved (:func:`simtransfer.envs.trust.resolve_component` and ``import_object`` look names up
here), so ``simtransfer.agents`` can rebuild such a policy without importing ``simtransfer.transfer``.

:data:`LEGACY_PATHS` maps every dotted path an earlier run may hold (``transfer.progressive_policies:X``,
``simtransfer.transfer.progressive_policies.X``, the extractor modules, ...) to today's short name.

>>> registered_path("progressive_sac")
'simtransfer.transfer.progressive:ProgressiveSACPolicy'
>>> registered_path("transfer.progressive_policies.ProgressiveSACPolicy")   # a run from before the move
'simtransfer.transfer.progressive:ProgressiveSACPolicy'
>>> registered_path("mylab.policies:Mine") is None
True
>>> short_name("simtransfer.transfer.progressive:ProgressiveTD3Policy")
'progressive_td3'
"""

from __future__ import annotations

import sys

COMPONENTS: dict[str, str] = {
    "progressive_actor_critic": "simtransfer.transfer.progressive:ProgressiveActorCriticPolicy",
    "progressive_sac": "simtransfer.transfer.progressive:ProgressiveSACPolicy",
    "progressive_td3": "simtransfer.transfer.progressive:ProgressiveTD3Policy",
    "progressive_cnn_extractor": "simtransfer.transfer.progressive:ProgressiveCnnExtractor",
    "multitask_heads": "simtransfer.agents.multitask:MultiTaskHeadsPolicy",
}

# old "module:Class" (without the "simtransfer." prefix runs got after the move under one import name) -> name
LEGACY_PATHS: dict[str, str] = {
    "transfer.progressive_policies:ProgressiveActorCriticPolicy": "progressive_actor_critic",
    "transfer.progressive_policies:ProgressiveSACPolicy": "progressive_sac",
    "transfer.progressive_policies:ProgressiveTD3Policy": "progressive_td3",
    "transfer.progressive_policies:ProgressiveCnnExtractor": "progressive_cnn_extractor",
    "transfer.progressive_extractors:ProgressiveCnnExtractor": "progressive_cnn_extractor",
}


def _normal(path: str) -> str:
    """``[simtransfer.]pkg.mod:Class`` or ``[simtransfer.]pkg.mod.Class`` → ``pkg.mod:Class``."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    module = module.removeprefix("simtransfer.")
    return f"{module}:{attr}"


def registered_path(name: str) -> str | None:
    """The ``"module:Class"`` a registered short name or a legacy path stands for; None for other names."""
    name = str(name).strip()
    if name in COMPONENTS:
        return COMPONENTS[name]
    legacy = LEGACY_PATHS.get(_normal(name))
    return None if legacy is None else COMPONENTS[legacy]


def short_name(path: str | type) -> str | None:
    """The registered short name of a class, or of a ``"module:Class"`` path (current or legacy); None if none.

    A class matches when it is the very object its registered path names in an already imported module (this
    never imports anything).
    """
    if isinstance(path, type):
        for name, target in COMPONENTS.items():
            module, _, attr = target.partition(":")
            if getattr(sys.modules.get(module), attr, None) is path:
                return name
        return None
    target = registered_path(path) or str(path)
    return next((name for name, t in COMPONENTS.items() if t == target), None)
