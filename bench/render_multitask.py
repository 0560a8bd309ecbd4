"""Markdown of ``bench/results/multitask.json`` (``bench/bench_multitask.py``): multi-task vs single-task sources.

Part of the one renderer, ``bench/render.py``.

>>> _est({"value": 12.0, "low": 3.0, "high": 20.5, "n": 3})
'12 [3, 20.5]'
>>> _est({"value": 1.5, "low": float("nan"), "high": float("nan"), "n": 1})
'1.5'
>>> _verdict_line({"a vs b": {"start": {"verdict": "win"}, "auc_mean": {"verdict": "tie"}}})
'The multi-task source wins 1, ties 1 and loses 0 of 2 comparisons (t=0 return and mean return over the budget, per single-task source).'
"""

from __future__ import annotations

from typing import Any

from machine import machine_line
from render_format import estimate as _est
from render_format import significant as _num

SOURCE_TEXT = {
    "multi": "3 tasks mixed per episode, no task id",
    "multi_onehot": "3 tasks mixed per episode, one-hot task id (zeros on the target)",
    "weak": "one task: motor 0.5x",
    "nominal": "one task: motor 1x",
    "strong": "one task: motor 2x",
}


def _iqm(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    cut = int(n * 0.25)
    mid = v[cut:n - cut] or v
    return sum(mid) / len(mid)


def _verdict_line(diffs: dict[str, Any]) -> str:
    verdicts = [row[k]["verdict"] for row in diffs.values() for k in ("start", "auc_mean")]
    n = {v: verdicts.count(v) for v in ("win", "tie", "loss")}
    if not sum(n.values()):
        return "One seed: no intervals, no verdict."
    return (f"The multi-task source wins {n['win']}, ties {n['tie']} and loses {n['loss']} of {len(verdicts)} "
            "comparisons (t=0 return and mean return over the budget, per single-task source).")


def multitask(data: dict[str, Any]) -> str:
    methods = data["methods"]
    seeds = data["seed_list"]
    lines = ["# Multi-task vs single-task sources", "",
             f"Experiment `{data['experiment']}` through the experiment runner, {len(seeds)} seeds ({seeds}). "
             f"Every source: {', '.join(f'`{k}` {v:,}' for k, v in data['source_timesteps'].items())} PPO steps "
             f"(the same total). Each is fine-tuned (`finetune`, its defaults) for {data['target_timesteps']:,} steps "
             f"on the held-out target, evaluated every {data['eval_every']:,} steps ({data['eval_episodes']} "
             f"episodes; final {data['final_episodes']}), against `scratch`. Jumpstart: t=0 return minus scratch's; "
             "AUC ratio: area above the no-skill reference relative to scratch's (> 1: transfer learned faster). "
             "IQM over seeds, 95% stratified-bootstrap intervals.", ""]
    for target, t in data["targets"].items():
        lines += [f"## Target `{target}`", "", f"Env: `{t['env']['id']}` with "
                  f"`{t['env'].get('randomization')}`.", "",
                  "| cell | source | source's own final return (IQM per task) | jumpstart | AUC ratio | "
                  "final (IQM) | negative transfer |", "|---|---|---|---|---|---|---|"]
        for label, row in t["methods"].items():
            src = methods.get(label, {}).get("source", "—") if label != "scratch" else "—"
            own = data["sources"].get(src, {}) if label != "scratch" else {}
            own_text = ", ".join(f"{task} {_num(_iqm(v))}" for task, v in own.items()) or "—"
            finals = t["per_seed"].get(label, {}).get("final", [])
            lines.append(f"| `{label}` | {SOURCE_TEXT.get(src, src)} | {own_text} | {_est(row['jumpstart'])} | "
                         f"{_est(row['transfer_ratio'])} | {_num(_iqm(finals))} | "
                         f"{'yes' if row['negative_transfer'] else 'no'} |")
        diffs = t["multi_vs_single"]
        lines += ["", "Multi-task minus single-task source (IQM difference, stratified bootstrap over both cells' "
                  "seeds; win: interval above 0, loss: below 0, else tie):", "",
                  "| comparison | t=0 return | verdict | mean return over the budget | verdict |",
                  "|---|---|---|---|---|"]
        for name, row in diffs.items():
            lines.append(f"| `{name}` | {_est(row['start'])} | {row['start']['verdict']} | "
                         f"{_est(row['auc_mean'])} | {row['auc_mean']['verdict']} |")
        lines += ["", _verdict_line(diffs), ""]
    for note in data.get("notes", []):
        lines.append(f"Note: {note}")
    ml = machine_line(data)
    if ml:
        lines += ["", ml]
    if "jobs_run" in data:
        lines += ["", f"Jobs trained by this run: {data['jobs_run']}; reused from an earlier run of the same "
                  f"experiment: {data['jobs_reused']} (a wall time covers the trained ones only)."]
    return "\n".join(lines).rstrip() + "\n"
