"""Progressive neural networks (Rusu et al. 2016): frozen source columns + a new column with lateral adapters.

Everything public is exported here; the ``_*.py`` modules are private topics and may be re-split freely (run
files never name them: they store registered short names, see :mod:`simtransfer.envs.components`):

* ``_columns`` — activations, frozen tensors, index maps, lateral adapters, MLP columns;
* ``_tower`` — :class:`ProgressiveTower` (MLP columns over one vector); ``_cnn`` — :class:`ProgressiveCnn`;
* ``_extractors`` — :class:`ProgressiveMlpExtractor`, :class:`ProgressiveCnnExtractor`;
* ``_policies`` — the SB3 policies :class:`ProgressiveActorCriticPolicy` (PPO/A2C), :class:`ProgressiveSACPolicy`,
  :class:`ProgressiveTD3Policy`;
* ``_spec`` / ``_load`` — :func:`progressive_policy_spec` (kwargs from source runs) and :func:`load_source_columns`;
* ``_fused`` / ``_cache`` — the opt-in speed-ups (``fast=True``): fused rollout towers and the per-rollout
  frozen-column cache (:class:`IndexedRolloutBuffer`, :func:`use_indexed_rollout_buffer`).

Importing this package changes nothing outside it (no torch hooks, no patched classes, no thread-locals);
the speed-ups live on the model that asks for them.

>>> import torch
>>> from simtransfer.transfer.progressive import ProgressiveTower
>>> tower = ProgressiveTower(4, [{"arch": [8, 8]}, {"arch": [6, 6]}])
>>> tower(torch.zeros(3, 4)).shape   # last hidden (6) + head lateral (6)
torch.Size([3, 12])
>>> from simtransfer.envs.trust import import_object
>>> import_object("progressive_actor_critic") is ProgressiveActorCriticPolicy
True
"""

from simtransfer.transfer.progressive._cache import (
    FrozenRowCache,
    IndexedRolloutBuffer,
    use_indexed_rollout_buffer,
)
from simtransfer.transfer.progressive._cnn import NATURE_CNN, CnnColumn, ConvLateralAdapter, ProgressiveCnn
from simtransfer.transfer.progressive._columns import (
    ACTIVATIONS,
    IndexMap,
    LateralAdapter,
    MlpColumn,
    activation_name,
    check_index_map,
    compose_maps,
    freeze_to_buffers,
    make_activation,
)
from simtransfer.transfer.progressive._extractors import ProgressiveCnnExtractor, ProgressiveMlpExtractor
from simtransfer.transfer.progressive._fused import fuse_plans, fused_latents
from simtransfer.transfer.progressive._load import load_source_columns
from simtransfer.transfer.progressive._policies import (
    POLICY_CLASSES,
    ProgressiveActorCriticPolicy,
    ProgressiveSACPolicy,
    ProgressiveTD3Policy,
)
from simtransfer.transfer.progressive._spec import OFF_POLICY, ON_POLICY, progressive_policy_spec, read_source
from simtransfer.transfer.progressive._tower import ProgressiveTower

__all__ = [
    "ACTIVATIONS",
    "NATURE_CNN",
    "OFF_POLICY",
    "ON_POLICY",
    "POLICY_CLASSES",
    "CnnColumn",
    "ConvLateralAdapter",
    "FrozenRowCache",
    "IndexMap",
    "IndexedRolloutBuffer",
    "LateralAdapter",
    "MlpColumn",
    "ProgressiveActorCriticPolicy",
    "ProgressiveCnn",
    "ProgressiveCnnExtractor",
    "ProgressiveMlpExtractor",
    "ProgressiveSACPolicy",
    "ProgressiveTD3Policy",
    "ProgressiveTower",
    "activation_name",
    "check_index_map",
    "compose_maps",
    "freeze_to_buffers",
    "fuse_plans",
    "fused_latents",
    "load_source_columns",
    "make_activation",
    "progressive_policy_spec",
    "read_source",
    "use_indexed_rollout_buffer",
]
