"""Few-shot adaptation in the experiment report: the return after k target episodes, one axis for every method.

Zero-shot cells (``zeroshot``, and any cell without a learning curve) are constant in k: their final return.
Fine-tuning cells (every method with a target learning curve) are read off their curve at ``k`` episodes' worth
of target steps (``k`` times the target's mean episode length in its evaluations). An RL² policy's few-shot return
is episode k of a meta-test trial (``simtransfer evaluate RUN --trial-episodes K``; ``bench/bench_meta.py``).
Per (target, method): IQM over seeds with its bootstrap interval (:mod:`simtransfer.transfer.stats`). A k whose
steps lie beyond a cell's target budget is shown as ``> budget``.

>>> from pathlib import Path
>>> from simtransfer.experiments.results import TargetData
>>> from simtransfer.transfer.metrics import Curve
>>> from simtransfer.transfer.stats import RunResult
>>> data = TargetData("t", methods={"zeroshot": [RunResult(0, None, 50.0)],
...                                 "finetune": [RunResult(0, Curve([0, 1000], [50.0, 150.0]))]})
>>> results = Results(Path("."), "demo", {"t": data})
>>> few_shot(results, "t", "finetune", 2, steps=250).value, few_shot(results, "t", "zeroshot", 2).value
(100.0, 50.0)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.results import Results, method_order
from simtransfer.transfer.metrics import few_shot_return
from simtransfer.transfer.stats import DEFAULT_CONFIDENCE, DEFAULT_REPS, Estimate, bootstrap_iqm

FEW_SHOT_K = (1, 3, 10)
"""Episode counts the report shows by default."""


def episode_steps(results: Results, target: str) -> float | None:
    """Mean episode length on ``target`` in its cells' final evaluations (``eval.json`` ``lengths``)."""
    lengths: list[float] = []
    for path in sorted((results.root / "cells").glob("*/*/*/eval.json")):
        try:
            final = json.loads(path.read_text()).get("final", {}).get(target) or {}
        except (OSError, ValueError, AttributeError):
            continue
        lengths += [float(x) for x in final.get("lengths") or []]
    return float(np.mean(lengths)) if lengths else None


def few_shot(results: Results, target: str, method: str, k: int, *, steps: float | None = None,
             reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Estimate:
    """IQM over seeds of the return after ``k`` target episodes; a SimtransferError when ``k`` episodes' worth
    of steps is beyond a run's target budget."""
    runs = results.targets[target].methods[method]
    values = []
    for r in runs:
        if r.curve is None:
            values.append(few_shot_return(k, zero_shot=r.last_return))
        else:
            if steps is None:
                raise SimtransferError(f"target '{target}': no episode lengths in its evaluations, cannot convert "
                                       f"{k} episodes to steps")
            values.append(few_shot_return(k, curve=r.curve, episode_steps=steps))
    est = bootstrap_iqm(np.asarray(values), reps=reps, confidence=confidence, seed=seed)
    return est if len(values) > 1 else Estimate(est.value, float("nan"), float("nan"), est.n)


def few_shot_rows(results: Results, ks: tuple[int, ...] = FEW_SHOT_K, **boot: Any) -> list[dict[str, Any]]:
    """One row per (target, method): ``{"target", "method", "episode_steps", "few_shot": {k: Estimate | None}}``
    (None: k beyond the target budget)."""
    rows = []
    for target in sorted(results.targets):
        steps = episode_steps(results, target)
        for method in method_order(results.targets[target].methods):
            cells: dict[int, Estimate | None] = {}
            for k in ks:
                try:
                    cells[k] = few_shot(results, target, method, k, steps=steps, **boot)
                except SimtransferError:
                    cells[k] = None
            rows.append({"target": target, "method": method, "episode_steps": steps, "few_shot": cells})
    return rows


def few_shot_lines(results: Results, ks: tuple[int, ...] = FEW_SHOT_K, **boot: Any) -> list[str]:
    """The report's "Few-shot adaptation" section (Markdown lines)."""
    rows = few_shot_rows(results, ks, **boot)
    out = ["", "## Few-shot adaptation (return after k target episodes)", "",
           "Zero-shot methods: constant (their final return); methods trained on the target: their learning curve "
           "at k episodes' worth of target steps (k x the mean evaluation episode length). IQM over seeds "
           "[95% bootstrap interval]; `> budget`: k episodes exceed the target budget. RL² policies: "
           "`simtransfer evaluate RUN --trial-episodes K` (episode k of a trial).", "",
           "| target | method | steps/episode | " + " | ".join(f"k={k}" for k in ks) + " |",
           "|---|---|---|" + "---|" * len(ks)]
    for r in rows:
        steps = "—" if r["episode_steps"] is None else f"{r['episode_steps']:.0f}"
        cells = ["> budget" if e is None else e.format() for e in r["few_shot"].values()]
        out.append(f"| {r['target']} | {r['method']} | {steps} | " + " | ".join(cells) + " |")
    return out


def few_shot_json(results: Results, ks: tuple[int, ...] = FEW_SHOT_K, **boot: Any) -> list[dict[str, Any]]:
    """:func:`few_shot_rows` as plain JSON-able dicts."""
    return [{**r, "few_shot": {str(k): (None if e is None else e.to_dict()) for k, e in r["few_shot"].items()}}
            for r in few_shot_rows(results, ks, **boot)]

