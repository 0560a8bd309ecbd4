"""SB3 logger outputs for a run directory: ``progress.csv`` that survives ``--resume``.

SB3's ``CSVOutputFormat`` truncates its file when opened; on resume we first write back the rows logged up
to the checkpoint (later rows belong to the lost interval), then let SB3 append and extend columns as usual.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stable_baselines3.common.logger import CSVOutputFormat

from simtransfer.agents.policy_io import atomic_write_bytes


def read_rows(path: str | Path, max_step: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an SB3 progress.csv, keeping rows with ``time/total_timesteps <= max_step``."""
    p = Path(path)
    if not p.is_file():
        return [], []
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    if max_step is not None and "time/total_timesteps" in header:
        i = header.index("time/total_timesteps")

        def keep(row: list[str]) -> bool:
            try:
                return float(row[i]) <= max_step
            except (IndexError, ValueError):
                return True

        body = [r for r in body if keep(r)]
    return header, body


def merge_step_rows(path: str | Path) -> None:
    """Merge consecutive rows logged at the same ``time/total_timesteps`` (later non-empty values win), so
    progress.csv has one row per step; rewritten atomically, only when there is something to merge."""
    header, rows = read_rows(path)
    if "time/total_timesteps" not in header:
        return
    i = header.index("time/total_timesteps")
    merged: list[list[str]] = []
    for row in rows:
        row = row + [""] * (len(header) - len(row))
        if merged and merged[-1][i] == row[i]:
            merged[-1] = [new if new != "" else old for old, new in zip(merged[-1], row)]
        else:
            merged.append(row)
    if len(merged) == len(rows):
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(merged)
    atomic_write_bytes(path, out.getvalue().encode())


class ResumableCSVOutputFormat(CSVOutputFormat):
    """``CSVOutputFormat`` that starts from earlier rows (resume) instead of an empty file."""

    def __init__(self, filename: str | Path, header: list[str] | None = None,
                 rows: list[list[str]] | None = None) -> None:
        super().__init__(str(filename))
        if header:
            writer = csv.writer(self.file, lineterminator="\n")
            writer.writerow(header)
            for row in rows or []:
                writer.writerow(row + [""] * (len(header) - len(row)))
            self.file.flush()
            self.keys = list(header)
