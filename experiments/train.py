"""Training, re-exported from :mod:`simtransfer.agents.train` (where it lives, below ``transfer``).

Kept so user code and docs that import ``simtransfer.experiments.train`` keep working.

>>> from simtransfer.experiments.train import train, TrainResult
>>> train.__module__
'simtransfer.agents.train'
"""

from simtransfer.agents.train import (
    PrepareModel,
    TrainResult,
    check_out_dir,
    config_changes,
    default_run_dir,
    is_finished,
    main_summary,
    read_eval_json,
    summary_line,
    train,
)

__all__ = ["PrepareModel", "TrainResult", "check_out_dir", "config_changes", "default_run_dir", "is_finished",
           "main_summary", "read_eval_json", "summary_line", "train"]
