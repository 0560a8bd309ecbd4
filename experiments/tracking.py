"""W&B tracking, re-exported from :mod:`simtransfer.agents.tracking` (where it lives, beside training).

Kept so user code and docs that import ``simtransfer.experiments.tracking`` keep working.

>>> from simtransfer.experiments.tracking import Tracker
>>> Tracker.__module__
'simtransfer.agents.tracking'
"""

from simtransfer.agents.tracking import (
    FALLBACK_ENV,
    FALLBACK_FILE,
    MODES,
    Tracker,
    WandbWriter,
    fallback_mode,
    resolve_mode,
    share_offline_fallback,
)

__all__ = ["FALLBACK_ENV", "FALLBACK_FILE", "MODES", "Tracker", "WandbWriter", "fallback_mode", "resolve_mode",
           "share_offline_fallback"]
