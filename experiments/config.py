"""The training config, re-exported from :mod:`simtransfer.agents.config` (where it lives, below ``transfer``).

Kept so user code and docs that import ``simtransfer.experiments.config`` keep working.

>>> from simtransfer.experiments.config import TrainConfig
>>> TrainConfig(env={"id": "CartPole-v1"}).algo
'ppo'
"""

from simtransfer.agents.config import (
    DEFAULTS_DIR,
    Algo,
    EvalConfig,
    NormalizeConfig,
    PolicyConfig,
    TrackingConfig,
    TrainConfig,
    algo_defaults,
    apply_overrides,
    deep_merge,
    field_reference,
    load_train_config,
    resolve_train_config,
    update_config,
)

__all__ = ["DEFAULTS_DIR", "Algo", "EvalConfig", "NormalizeConfig", "PolicyConfig", "TrackingConfig", "TrainConfig",
           "algo_defaults", "apply_overrides", "deep_merge", "field_reference", "load_train_config",
           "resolve_train_config", "update_config"]
