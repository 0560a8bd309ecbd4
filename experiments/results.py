"""A finished experiment's results directory, loaded (``OUT/cells/<target>/<method>/seed<k>/``, ``OUT/sources``).

What :mod:`~simtransfer.experiments.report`, :mod:`~simtransfer.experiments.leaderboard` and
:mod:`~simtransfer.experiments.report_plots` read; the layout is documented in ``docs/metrics.md``.

>>> method_order(["l2sp", "custom", "scratch", "finetune"])
['scratch', 'finetune', 'l2sp', 'custom']
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.yaml_io import load_yaml
from simtransfer.transfer.metrics import Curve
from simtransfer.transfer.stats import RunResult

METHOD_ORDER = ("scratch", "zeroshot", "finetune", "freeze", "features", "partial", "l2sp", "progressive")
_SEED_DIR = re.compile(r"^seed(-?\d+)$")




@dataclass
class TargetData:
    """Every finished cell of one target."""

    name: str
    methods: dict[str, list[RunResult]] = field(default_factory=dict)
    random_returns: list[float] = field(default_factory=list)
    thresholds: set[float] = field(default_factory=set)


@dataclass
class Results:
    """A loaded results directory."""

    root: Path
    name: str
    targets: dict[str, TargetData]
    sources: dict[int, float | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- loading
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SimtransferError(f"malformed JSON in {path}: {exc}") from None


def _pick(table: Any, key: str, path: Path, what: str) -> Any:
    """``table[key]``, else its only/first entry; ``None`` when the table is empty or absent."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise SimtransferError(f"malformed eval.json {path}: '{what}' must be an object keyed by target")
    if key in table:
        return table[key]
    return next(iter(table.values()), None)


def read_eval(path: Path, target: str, *, want_curve: bool = True) -> tuple[Curve | None, float | None]:
    """The curve and final mean return of ``target`` in an ``eval.json`` (see module docs for fallbacks)."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise SimtransferError(f"malformed eval.json {path}: expected a JSON object")
    curve, final = None, None
    raw_curve = _pick(data.get("curves"), target, path, "curves") if want_curve else None
    if raw_curve is not None:
        try:
            curve = Curve.from_dict(raw_curve)
        except SimtransferError as exc:
            raise SimtransferError(f"malformed eval.json {path}: {exc}") from None
    raw_final = _pick(data.get("final"), target, path, "final")
    if raw_final is not None:
        value = raw_final.get("mean_return") if isinstance(raw_final, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SimtransferError(f"malformed eval.json {path}: final mean_return must be a finite number")
        final = float(value)
    if curve is None and final is None:
        raise SimtransferError(f"malformed eval.json {path}: no curve and no final result for '{target}'")
    return curve, final


def _seed_of(seed_dir: Path, cell: dict) -> int:
    if isinstance(cell.get("seed"), int):
        return int(cell["seed"])
    m = _SEED_DIR.match(seed_dir.name)
    if not m:
        raise SimtransferError(f"cannot tell the seed of {seed_dir} (expected a 'seed<k>' directory)")
    return int(m.group(1))


def _experiment_name(root: Path) -> str:
    path = root / "experiment.yaml"
    if path.is_file():
        data = load_yaml(path)
        if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"].strip():
            return data["name"].strip()
    return root.resolve().name


def load_results(results_dir: str | Path) -> Results:
    """Read every finished cell under ``RESULTS/cells`` (and source finals under ``RESULTS/sources``)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise SimtransferError(f"results directory not found: {root}")
    cells_dir = root / "cells"
    if not cells_dir.is_dir():
        raise SimtransferError(f"no cells in {root} (expected {cells_dir}/<target>/<method>/seed<k>/)")
    results = Results(root=root, name=_experiment_name(root), targets={})
    names = {}  # target directory -> real target name, from any cell.json in it (cells without one use it)
    for path in sorted(cells_dir.glob("*/*/*/cell.json")):
        cell = _read_json(path)
        if isinstance(cell, dict) and cell.get("target"):
            names.setdefault(path.parents[2].name, str(cell["target"]))
    for seed_dir in sorted(cells_dir.glob("*/*/*")):
        if not seed_dir.is_dir():
            continue
        method_dir, target_dir = seed_dir.parent, seed_dir.parent.parent
        cell_path, eval_path = seed_dir / "cell.json", seed_dir / "eval.json"
        cell = _read_json(cell_path) if cell_path.is_file() else {}
        if not isinstance(cell, dict):
            raise SimtransferError(f"malformed cell.json {cell_path}: expected a JSON object")
        rel = seed_dir.relative_to(root)
        status = cell.get("status", "done" if eval_path.is_file() else "missing")
        if status != "done":
            results.skipped.append(f"{rel} (status: {status})")
            continue
        if not eval_path.is_file():
            raise SimtransferError(f"cell {rel} is marked done but has no eval.json")
        target = str(cell.get("target") or names.get(target_dir.name, target_dir.name))
        method = str(cell.get("method") or method_dir.name)
        seed = _seed_of(seed_dir, cell)
        data = results.targets.setdefault(target, TargetData(target))
        if cell.get("threshold") is not None:
            try:
                data.thresholds.add(float(cell["threshold"]))
            except (TypeError, ValueError):
                raise SimtransferError(f"malformed cell.json {cell_path}: threshold must be a number") from None
        curve, final = read_eval(eval_path, target, want_curve=cell.get("method_name", method) not in ("zeroshot", "random"))
        if method == "random":
            data.random_returns.append(final if final is not None else float(curve.mean_return[-1]))
        else:
            data.methods.setdefault(method, []).append(RunResult(seed, curve, final))
    if not any(t.methods for t in results.targets.values()):
        raise SimtransferError(f"no finished cells under {cells_dir}")
    for src in sorted((root / "sources").glob("seed*")):
        if (src / "eval.json").is_file() and _SEED_DIR.match(src.name):
            curve, final = read_eval(src / "eval.json", "train")
            results.sources[_seed_of(src, {})] = final if final is not None else float(curve.mean_return[-1])
    return results


def method_order(methods: Any) -> list[str]:
    """Scratch first, then the built-in methods in their usual order, then anything else alphabetically."""
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(m for m in methods if m not in METHOD_ORDER)
