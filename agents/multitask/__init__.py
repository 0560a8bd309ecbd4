"""Multi-task policies: per-task action and value heads on a shared trunk (``policy_class: multitask_heads``).

The public API over one private module, ``_heads.py`` (the layout of ``transfer/progressive``); run files name
the policy by its registered short name (``envs/components.py``). Multi-task envs are in
:mod:`simtransfer.envs.multitask`, the mixed training env in :mod:`simtransfer.agents.vecenv`.

>>> from simtransfer.agents.multitask import MultiTaskHeadsPolicy
>>> from simtransfer.envs.components import short_name
>>> short_name(MultiTaskHeadsPolicy)
'multitask_heads'
"""

from simtransfer.agents.multitask._heads import (
    MultiTaskHeadsPolicy,
    TaskCodedExtractor,
    TaskHeads,
    check_single_head,
)

__all__ = ["MultiTaskHeadsPolicy", "TaskCodedExtractor", "TaskHeads", "check_single_head"]
