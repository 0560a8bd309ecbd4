"""Markdown of ``bench/results/adversarial.json`` (``bench/bench_adversarial.py``): RARL vs DR vs nominal.

Part of the one renderer, ``bench/render.py``.

>>> _est({"value": 1234.5, "low": 1000.0, "high": 1500.0, "n": 2})
'1234 [1000, 1500]'
>>> _est({"value": 1.234, "low": 0.9, "high": 1.5, "n": 2}, ratio=True)
'1.23 [0.90, 1.50]'
"""

from __future__ import annotations

from typing import Any

from machine import machine_line

COLUMNS = [("nominal", "nominal"), ("train_mean", "train dist. mean"), ("train_cvar", "train dist. CVaR-10%"),
           ("extrap_mean", "extrap mean"), ("extrap_cvar", "extrap CVaR-10%"), ("worst", "searched worst case")]
NAMES = {"idp": "InvertedDoublePendulum", "hopper": "Hopper"}


def _num(x: Any, ratio: bool = False) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.2f}" if ratio else f"{x:.0f}"


def _est(e: dict[str, Any] | None, ratio: bool = False) -> str:
    if not e:
        return "—"
    if e.get("n", 0) < 2 or e.get("low") is None:
        return _num(e["value"], ratio)
    return f"{_num(e['value'], ratio)} [{_num(e['low'], ratio)}, {_num(e['high'], ratio)}]"


def _reading(method: str, g: dict[str, Any], goal: dict[str, Any]) -> str:
    """One generated sentence: where each interval lies against the goal.

    >>> _reading("rarl", {"worst_vs_dr": {"value": 0.9, "low": 0.6, "high": 1.1, "n": 2},
    ...                   "nominal_loss": {"value": -0.1, "low": -0.2, "high": -0.05, "n": 2}}, {"worst_ratio": 1.2,
    ...                   "nominal_loss": 0.1})
    "`rarl`: worst case not distinguishable from DR's (its interval contains 1; the goal's 1.2 lies above it); nominal return higher than the nominal run's (the loss interval lies below 0)."
    """
    w, loss = g["worst_vs_dr"], g["nominal_loss"]
    if w.get("n", 0) < 2 or w["low"] != w["low"]:
        worst = f"worst case {_num(w['value'], True)}× DR's from one seed (no interval)"
    elif w["low"] >= goal["worst_ratio"]:
        worst = f"worst case above the goal's {goal['worst_ratio']:g}× DR's over the whole interval"
    elif w["high"] < 1:
        worst = "worst case below DR's (the whole interval lies below 1)"
    elif w["low"] <= 1 <= w["high"]:
        worst = "worst case not distinguishable from DR's (its interval contains 1"
        worst += f"; the goal's {goal['worst_ratio']:g} lies above it)" if w["high"] < goal["worst_ratio"] else ")"
    else:
        worst = "worst case above DR's, the goal inside the interval"
    if loss.get("n", 0) < 2 or loss["low"] != loss["low"]:
        nominal = "nominal return from one seed"
    elif loss["high"] < 0:
        nominal = "nominal return higher than the nominal run's (the loss interval lies below 0)"
    elif loss["low"] > goal["nominal_loss"]:
        nominal = f"nominal return lost beyond {goal['nominal_loss']:.0%} over the whole interval"
    elif loss["high"] <= goal["nominal_loss"]:
        nominal = f"nominal return lost within {goal['nominal_loss']:.0%}"
    else:
        nominal = f"nominal loss interval straddles {goal['nominal_loss']:.0%}"
    return f"`{method}`: {worst}; {nominal}."


def _setting(task: str, s: dict[str, Any]) -> str:
    steps = f"{s['timesteps']:,} steps" if s.get("timesteps") else "the configs' budgets"
    return (f"{NAMES.get(task, task)}: {len(s['seeds'])} seed(s), {steps}, {s['episodes']} episodes per "
            f"evaluation, worst case: CMA-ES, {s['worst_budget']} evaluations × {s['worst_episodes']} episode(s) "
            f"over the training ranges")


def _task(task: str, data: dict[str, Any], goal: dict[str, Any]) -> list[str]:
    runs = [r for rs in data["runs"].values() for r in rs]
    train_min = sum(r["train"]["wall_s"] for r in runs) / 60
    eval_min = sum(r["scores"].get("eval_wall_s", 0.0) for r in runs) / 60
    lines = [f"## {NAMES.get(task, task)}", "", _setting(task, data["settings"]) + f"; its {len(runs)} runs took "
             f"{train_min:.0f} min of training and {eval_min:.0f} min of evaluation (wall time, summed; runs a "
             "re-run found finished are reused).", "",
             "| method | " + " | ".join(c for _, c in COLUMNS) + " | train wall time (s, per seed) |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]
    for method, est in data["methods"].items():
        walls = ", ".join(_num(r["train"]["wall_s"]) for r in data["runs"][method])
        lines.append(f"| {method} | " + " | ".join(_est(est[k]) for k, _ in COLUMNS) + f" | {walls} |")
    lines.append("")
    if data["goal"]:
        lines += [f"Goal: worst case ≥ {goal['worst_ratio']:g}× DR's, nominal return lost ≤ "
                  f"{goal['nominal_loss']:.0%} (IQM ratios, 95% stratified-bootstrap intervals; a negative loss: "
                  "RARL scored higher on nominal physics than the nominal run):", "",
                  "| RARL variant | worst case / DR's | nominal return lost (vs nominal run) | goal | adversary phases | "
                  "protagonist's return vs its adversary (last phase, per seed) |", "|---|---|---|---|---|---|"]
        for method, g in data["goal"].items():
            runs = data["runs"][method]
            phases = ", ".join(str((r.get("rarl") or {}).get("phases", "—")) for r in runs)
            vs = ", ".join(_num((r.get("rarl") or {}).get("return_vs_adversary_last")) for r in runs)
            lines.append(f"| {method} | {_est(g['worst_vs_dr'], True)} | {_est(g['nominal_loss'], True)} | "
                         f"{'met' if g['met'] else 'not met'} | {phases} | {vs} |")
        lines += ["", "Reading: " + " ".join(_reading(m, g, goal) for m, g in data["goal"].items()), ""]
    est = data.get("full_estimate")
    if est:
        lines += [f"Full setting (`--full`: 5 seeds, the configs' budgets, 30 episodes per evaluation, worst case 100 × "
                  f"3 episodes, RARL also at 2.5 and 10 N) for this task, at this run's measured speed and load: about "
                  f"{est['total_s'] / 3600:.1f} h of wall time (training {est['train_s'] / 3600:.1f} h, evaluation at "
                  f"least {est['eval_s'] / 3600:.1f} h: episodes lengthen as policies learn).", ""]
    return lines


def adversarial(data: dict[str, Any]) -> str:
    lines = ["# Adversarial training: RARL vs uniform DR vs nominal (`bench/bench_adversarial.py`)", ""]
    line = machine_line(data)
    if line:
        lines += [line, ""]
    lines += [f"Setting: **{data['mode']}**. Cells: interquartile mean over seeds [95% bootstrap interval]; "
              "episodes reset with the same seeds for every run. *CVaR-10%*: mean of the worst 10% of episodes. "
              "*Searched worst case*: the lowest mean return CMA-ES found over the training ranges of every "
              "randomizable parameter. How to read these: `docs/adversarial.md`.", ""]
    for task, tdata in data["tasks"].items():
        lines += _task(task, tdata, data["goal"])
    return "\n".join(lines).rstrip() + "\n"
