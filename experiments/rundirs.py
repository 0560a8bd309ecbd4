"""Run-directory safety (locks, ``--force``, disk full), re-exported from :mod:`simtransfer.agents.rundirs`.

Kept so user code and docs that import ``simtransfer.experiments.rundirs`` keep working.

>>> from simtransfer.experiments.rundirs import locked, LOCK
>>> LOCK
'.lock'
"""

from simtransfer.agents.rundirs import (
    LOCK,
    RUN_FILES,
    check_clearable,
    clear_run_dir,
    disk_errors,
    disk_full_error,
    foreign_entries,
    is_disk_full,
    is_empty,
    locked,
    remove_temp_files,
)

__all__ = ["LOCK", "RUN_FILES", "check_clearable", "clear_run_dir", "disk_errors", "disk_full_error",
           "foreign_entries", "is_disk_full", "is_empty", "locked", "remove_temp_files"]
