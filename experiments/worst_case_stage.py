"""The experiment's optional worst-case stage and the report's risk table (CVaR-10% and searched worst case).

With ``worst_case:`` in an experiment config, every finished cell (method x target x seed) also gets a CMA-ES
search of its target's parameters (:func:`simtransfer.agents.worst_case.search_worst_case`), written to
``cells/<target>/<method>/seed<k>/worst_case.json``. The report then shows, per target and method, the IQM
over seeds of the final mean return, of its CVaR-10% (mean of the worst 10% of the final evaluation's
episodes) and of the searched worst-case return.

>>> WorstCaseConfig().budget, WorstCaseConfig().ranges
(20, 'train')
>>> risk_markdown([])
[]
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simtransfer.agents.evaluation import cvar
from simtransfer.agents.policy_io import atomic_write_json
from simtransfer.agents.worst_case import NoRandomizablePhysics, search_worst_case
from simtransfer.envs.spec import EnvSpec
from simtransfer.transfer.stats import bootstrap_iqm

WORST_CASE_FILE = "worst_case.json"


class WorstCaseConfig(BaseModel):
    """``worst_case:`` of an experiment config: a small CMA-ES search per (method, target, seed)."""

    model_config = ConfigDict(extra="forbid")

    budget: int = Field(default=20, ge=1, description="CMA-ES evaluations (parameter vectors) per cell")
    episodes: int = Field(default=3, ge=1, description="episodes per evaluated vector (the same seeds for all)")
    ranges: str | dict[str, Any] = Field(
        default="train", description="train | interp | extrap (the target's preset ranges) or 'name: [low, high]'")
    seed: int = Field(default=0, description="episode i of every evaluation resets with seed + i")


def run_cell_worst_case(wc: WorstCaseConfig, run_dir: str | Path, target: EnvSpec | str, seed: int) -> dict[str, Any]:
    """Search the finished cell ``run_dir`` on ``target`` (search seed = the cell's seed); write and return
    the summary (``worst_return``, ``worst_params``, ``evaluations``). A target without randomizable physics
    (a MuJoCo twin, a plain gymnasium id) is recorded as skipped instead of failing the trained cell."""
    try:
        res = search_worst_case(run_dir, target, ranges=wc.ranges, budget=wc.budget, episodes=wc.episodes,
                                seed=wc.seed, search_seed=seed)
    except NoRandomizablePhysics as exc:
        return {"worst_return": None, "skipped": str(exc)}
    full = res.to_dict()
    atomic_write_json(Path(run_dir) / WORST_CASE_FILE, full)
    return {k: full[k] for k in ("worst_return", "worst_cvar_10", "worst_params", "evaluations")}


def _cells(root: Path) -> list[dict[str, Any]]:
    """Finished cells: target, method, seed, final returns on the target, searched worst case (or None)."""
    out = []
    for marker in sorted((root / "cells").glob("*/*/*/cell.json")):
        try:
            cell = json.loads(marker.read_text())
            table = json.loads((marker.parent / "eval.json").read_text())["final"]
            # a cell trains on its target, so its final evaluation is keyed "train" (as experiments.results reads it)
            final = table.get(cell["target"]) or next(iter(table.values()), None)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        returns = final.get("returns") if isinstance(final, dict) else None
        if cell.get("status") != "done" or not returns:
            continue
        wc = cell.get("worst_case") or {}
        out.append({"target": cell["target"], "method": cell.get("method"), "seed": cell.get("seed"),
                    "mean": float(np.mean(returns)), "cvar_10": cvar(returns),
                    "worst": wc.get("worst_return")})
    return out


def risk_rows(root: str | Path) -> list[dict[str, Any]]:
    """Per (target, method): IQM [95% CI] over seeds of the final mean return, its CVaR-10% and the worst case."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in _cells(Path(root)):
        groups.setdefault((c["target"], c["method"]), []).append(c)
    rows = []
    for (target, method), cells in sorted(groups.items()):
        row: dict[str, Any] = {"target": target, "method": method, "n": len(cells)}
        for key in ("mean", "cvar_10", "worst"):
            vals = [c[key] for c in cells if c[key] is not None and math.isfinite(c[key])]
            row[key] = bootstrap_iqm(vals).to_dict() if vals else None
        row["n_worst"] = sum(c["worst"] is not None for c in cells)
        rows.append(row)
    return rows


def _fmt(est: dict[str, Any] | None) -> str:
    if est is None:
        return "—"
    if est["low"] is None or est["low"] != est["low"]:
        return f"{est['value']:.4g}"
    return f"{est['value']:.4g} [{est['low']:.4g}, {est['high']:.4g}]"


def risk_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The report's "Risk" section (empty without rows)."""
    if not rows:
        return []
    out = ["## Risk: CVaR-10% and searched worst case", "",
           "Final evaluation on each target, IQM over seeds [95% CI]: the mean return, its CVaR-10% (mean of the "
           "worst 10% of episodes) and, where the experiment sets `worst_case:`, the lowest mean return a CMA-ES "
           "search found over the target's parameter ranges (docs/worst_case.md).", "",
           "| target | method | n | mean | CVaR-10% | worst case |", "|---|---|---|---|---|---|"]
    for r in rows:
        worst = _fmt(r["worst"]) + (f" ({r['n_worst']}/{r['n']} seeds)" if 0 < r["n_worst"] < r["n"] else "")
        out.append(f"| {r['target']} | {r['method']} | {r['n']} | {_fmt(r['mean'])} | {_fmt(r['cvar_10'])} | "
                   f"{worst} |")
    return out + [""]
