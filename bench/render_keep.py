"""Markdown of ``bench/results/keep_source.json`` (``bench/bench_keep.py``): does fine-tuning keep the source?

Part of the one renderer, ``bench/render.py``.

>>> est = {"value": -5.0, "low": -9.0, "high": -1.0, "n": 5}
>>> _estimate(est)
'-5 [-9, -1]'
"""

from __future__ import annotations

from typing import Any

from machine import machine_line

WHAT = {
    "scratch": "fresh weights (baseline)",
    "ft-update": "old default: carried statistics keep updating",
    "ft-stats-only": "statistics update, weights fixed (lr 1e-12)",
    "ft-frozen-obs": "observation statistics frozen",
    "ft-frozen": "all statistics frozen",
    "ft-warmup": "frozen + critic warm-up",
    "ft-pull": "frozen + KL pull",
    "ft-pull10": "frozen + KL pull ×10",
    "ft-lr-low": "frozen + 10× lower learning rate",
    "ft-keep": "frozen + critic warm-up + KL pull",
    "finetune": "new defaults",
    "freeze": "new defaults",
    "l2sp": "new defaults",
    "freeze-old": "old defaults",
    "l2sp-old": "old defaults",
}


def _num(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.0f}"


def _estimate(e: dict[str, Any] | None) -> str:
    if not e:
        return "—"
    if e.get("low") is None or e["low"] != e["low"]:
        return _num(e["value"])
    return f"{_num(e['value'])} [{_num(e['low'])}, {_num(e['high'])}]"


def _per_seed(entry: dict[str, Any]) -> str:
    starts = entry.get("per_seed_start")
    if not starts:
        return "—"
    return ", ".join(f"{_num(a)}→{_num(b)}" for a, b in zip(starts, entry["per_seed_final"], strict=True))


def _options(entry: dict[str, Any]) -> str:
    opts = entry.get("options") or {}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"


def keep_source(data: dict[str, Any]) -> str:
    lines = ["# Keeping what the source knew (`bench/bench_keep.py`)", ""]
    line = machine_line(data)
    if line:
        lines += [line, ""]
    lines += [
        "**final − zero-shot**: interquartile mean over seeds of (final return − the zero-shot return of the same "
        "source: the `zeroshot` cell of the seed, evaluated like the final return), paired by seed, with its 95% "
        "bootstrap interval; *vs t=0*: the same against the run's own t=0 evaluation (fewer episodes: noisier). **lost** = the whole interval "
        "lies below 0 (the report's *lost what the source had* flag). *below* = seeds that ended below their "
        "start.", ""]
    for family, fam in data["families"].items():
        lines += _family(family, fam)
    return "\n".join(lines).rstrip() + "\n"


def _family(family: str, data: dict[str, Any]) -> list[str]:
    seeds = data["seed_list"]
    lines = [
        f"## {family}", "",
        f"Setup: `{data['experiment']}` through the experiment runner. One PPO source per seed ({len(seeds)} seeds: "
        f"{', '.join(map(str, seeds))}) from `{data['source_config']}`, at most {data['source_timesteps']} steps and "
        "stopped at its first evaluation that reaches the `eval.stop_at` in `source_set` "
        f"(`{', '.join(data['source_set'])}`): a source that only just learned its task; then "
        f"{data['target_timesteps']} target steps on each held-out target "
        f"({', '.join(f'`{v}`' for v in data['targets'].values())}), evaluated every {data['eval_every']} steps "
        f"({data['eval_episodes']} episodes) and at the end ({data['final_episodes']} episodes).", ""]
    if data.get("competent"):
        bar, frac = data["competent_bar"], data["lost_fraction"]
        lines += [f"### {family}: sources that had the task", "",
                  f"Pooled over targets: the (target, seed) pairs whose source scored >= {_num(bar)} zero-shot, and "
                  f"how many of them ended below {frac:.0%} of that.", "",
                  "| variant | what changes | pairs | lost | worst final | lost (target/seed: start → final) |",
                  "|---|---|---|---|---|---|"]
        for label, c in data["competent"].items():
            lost = ", ".join(f"{p['target']}/{p['seed']}: {_num(p['start'])} → {_num(p['final'])}"
                             for p in c["lost_pairs"]) or "—"
            lines.append(f"| {label} | {WHAT.get(label, '')} | {c['pairs']} | {c['lost']} | {_num(c['worst_final'])} "
                         f"| {lost} |")
        lines.append("")
    for target, rows in data["results"].items():
        lines += [f"### {family}: {target}", "",
                  "| variant | what changes | options | final (IQM) | final − zero-shot | vs t=0 | below | lost | "
                  "per seed: zero-shot → final |", "|---|---|---|---|---|---|---|---|---|"]
        for label, e in rows.items():
            if label == "zeroshot":
                continue
            below = f"{e['below_zero_shot']}/{len(e['seeds'])}" if "below_zero_shot" in e else "—"
            lost = ("**yes**" if e["lost_source"] else "no") if "lost_source" in e else "—"
            lines.append(f"| {label} | {WHAT.get(label, e.get('method', ''))} | {_options(e)} | "
                         f"{_estimate(e['final'])} | {_estimate(e.get('vs_zero_shot'))} | {_estimate(e.get('vs_t0'))} | "
                         f"{below} | {lost} | "
                         f"{_per_seed(e)} |")
        if "zeroshot" in rows:
            z = rows["zeroshot"]
            lines += ["", f"Zero-shot (the source, no target training): {_estimate(z['final'])}; per seed "
                      + ", ".join(f"{s}: {_num(v)}" for s, v in zip(z["seeds"], z["per_seed_final"], strict=True))
                      + "."]
        lines.append("")
    return lines
