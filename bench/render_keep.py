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
FAMILY_WHAT = {"reacher": {"ft-frozen": "statistics frozen, no pull (plain fine-tuning)",
                           "ft-pull1": "frozen + KL pull ×1 (10× weaker than the default)",
                           "ft-decay": "frozen + KL pull ×10 fading to 0 over the target budget",
                           "ft-update": "old default: statistics keep updating, no pull"}}


def _num(x: float | None, d: int = 0) -> str:
    """``x`` with ``d`` decimals; no ``-0`` for a value that rounds to zero.

    >>> _num(-0.04, 1), _num(-0.4), _num(2.25, 1)
    ('0.0', '0', '2.2')
    """
    if x is None or x != x:
        return "n/a"
    text = f"{x:.{d}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _estimate(e: dict[str, Any] | None, d: int = 0) -> str:
    if not e:
        return "—"
    if e.get("low") is None or e["low"] != e["low"]:
        return _num(e["value"], d)
    return f"{_num(e['value'], d)} [{_num(e['low'], d)}, {_num(e['high'], d)}]"


def _improved(e: dict[str, Any]) -> str:
    """**yes** when the whole interval of final − zero-shot lies above 0."""
    est = e.get("vs_zero_shot")
    if not est or est.get("low") is None or est["low"] != est["low"]:
        return "—"
    return "**yes**" if est["low"] > 0 else "no"


def _per_seed(entry: dict[str, Any], d: int = 0) -> str:
    starts = entry.get("per_seed_start")
    if not starts:
        return "—"
    return ", ".join(f"{_num(a, d)}→{_num(b, d)}" for a, b in zip(starts, entry["per_seed_final"], strict=True))


def _options(entry: dict[str, Any]) -> str:
    opts = entry.get("options") or {}
    return ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"


def _verdict(family: str, data: dict[str, Any], what: dict[str, str], d: int) -> list[str]:
    """One row per variant, one column per target: final − zero-shot, and whether it lost or improved."""
    targets = list(data["results"])
    labels = [lb for rows in data["results"].values() for lb in rows if lb not in ("zeroshot", "scratch")]
    labels = list(dict.fromkeys(labels))
    if not labels:
        return []
    lines = [f"### {family}: kept or improved?", "",
             "Final − zero-shot per target (IQM over seeds, 95% interval); ▼ lost what the source had, ▲ improved on "
             "it, blank: neither (the interval holds 0).", "",
             "| variant | what changes | " + " | ".join(targets) + " |", "|---|---|" + "---|" * len(targets)]
    for label in labels:
        cells = []
        for target in targets:
            e = data["results"][target].get(label)
            if not e or "vs_zero_shot" not in e:
                cells.append("—")
                continue
            mark = " ▼" if e.get("lost_source") else (" ▲" if _improved(e) == "**yes**" else "")
            cells.append(_estimate(e["vs_zero_shot"], d) + mark)
        lines.append(f"| {label} | {what.get(label, '')} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def keep_source(data: dict[str, Any]) -> str:
    lines = ["# Keeping what the source knew (`bench/bench_keep.py`)", ""]
    line = machine_line(data)  # records before each family kept its own machine line
    if line:
        lines += [line, ""]
    lines += [
        "**final − zero-shot**: interquartile mean over seeds of (final return − the zero-shot return of the same "
        "source: the `zeroshot` cell of the seed, evaluated like the final return), paired by seed, with its 95% "
        "bootstrap interval; *vs t=0*: the same against the run's own t=0 evaluation (fewer episodes: noisier). **lost** = the whole interval "
        "lies below 0 (the report's *lost what the source had* flag); **improved** = it lies above 0 (target "
        "training gained on the source: a pull so strong that nothing moves keeps the source trivially, and "
        "shows here as no improvement). *below* = seeds that ended below their start.", ""]
    for family, fam in data["families"].items():
        lines += _family(family, fam)
    return "\n".join(lines).rstrip() + "\n"


def _family(family: str, data: dict[str, Any]) -> list[str]:
    seeds = data["seed_list"]
    what = {**WHAT, **FAMILY_WHAT.get(family, {})}
    d = int(data.get("decimals", 0))  # returns of order 10 (reacher) need one
    lines = [f"## {family}", ""]
    line = machine_line(data)
    if line:
        lines += [line, ""]
    if data.get("jobs"):
        resumed = "; the wall time above is that of the last, resumed run" if (
            data.get("wall_s", data["jobs_wall_s"]) < 0.9 * data["jobs_wall_s"]) else ""
        lines += [f"Cost: {data['jobs']} jobs, {data['jobs_wall_s'] / 60:.0f} min wall time summed over jobs (one "
                  f"worker{resumed}), {data['jobs_cpu_s'] / 60:.0f} min CPU time.", ""]
    lines += [
        f"Setup: `{data['experiment']}` through the experiment runner. One PPO source per seed ({len(seeds)} seeds: "
        f"{', '.join(map(str, seeds))}) from `{data['source_config']}`, at most {data['source_timesteps']} steps and "
        "stopped at its first evaluation that reaches the `eval.stop_at` in `source_set` "
        f"(`{', '.join(data['source_set'])}`): a source that only just learned its task; then "
        f"{data['target_timesteps']} target steps on each held-out target "
        f"({', '.join(f'`{v}`' for v in data['targets'].values())}), evaluated every {data['eval_every']} steps "
        f"({data['eval_episodes']} episodes) and at the end ({data['final_episodes']} episodes).", ""]
    if data.get("note"):
        lines += [data["note"], ""]
    if data.get("competent"):
        bar, frac = data["competent_bar"], data["lost_fraction"]
        lines += [f"### {family}: sources that had the task", "",
                  f"Pooled over targets: the (target, seed) pairs whose source scored >= {_num(bar, d)} zero-shot, and "
                  f"how many of them ended below {frac:.0%} of that.", "",
                  "| variant | what changes | pairs | lost | worst final | lost (target/seed: start → final) |",
                  "|---|---|---|---|---|---|"]
        for label, c in data["competent"].items():
            lost = ", ".join(f"{p['target']}/{p['seed']}: {_num(p['start'], d)} → {_num(p['final'], d)}"
                             for p in c["lost_pairs"]) or "—"
            lines.append(f"| {label} | {what.get(label, '')} | {c['pairs']} | {c['lost']} | {_num(c['worst_final'], d)} "
                         f"| {lost} |")
        lines.append("")
    lines += _verdict(family, data, what, d)
    for target, rows in data["results"].items():
        lines += [f"### {family}: {target}", "",
                  "| variant | what changes | options | final (IQM) | final − zero-shot | vs t=0 | below | lost | "
                  "improved | per seed: zero-shot → final |", "|---|---|---|---|---|---|---|---|---|---|"]
        for label, e in rows.items():
            if label == "zeroshot":
                continue
            below = f"{e['below_zero_shot']}/{len(e['seeds'])}" if "below_zero_shot" in e else "—"
            lost = ("**yes**" if e["lost_source"] else "no") if "lost_source" in e else "—"
            lines.append(f"| {label} | {what.get(label, e.get('method', ''))} | {_options(e)} | "
                         f"{_estimate(e['final'], d)} | {_estimate(e.get('vs_zero_shot'), d)} | {_estimate(e.get('vs_t0'), d)} | "
                         f"{below} | {lost} | {_improved(e)} | "
                         f"{_per_seed(e, d)} |")
        if "zeroshot" in rows:
            z = rows["zeroshot"]
            lines += ["", f"Zero-shot (the source, no target training): {_estimate(z['final'], d)}; per seed "
                      + ", ".join(f"{s}: {_num(v, d)}" for s, v in zip(z["seeds"], z["per_seed_final"], strict=True))
                      + "."]
        lines.append("")
    return lines
