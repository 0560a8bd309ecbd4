"""Generated blocks inside hand-written docs: every measured number in ``docs/randomization.md`` and
``docs/progressive.md`` sits between ``<!-- render:NAME -->`` and ``<!-- /render:NAME -->`` and is rewritten
from ``bench/results/*.json`` by ``python bench/render.py`` (``--check`` and ``tests/test_rendered_results.py``
fail on a hand edit, as for the results files).  The prose around the blocks carries no measured number.

>>> fill("a\\n<!-- render:demo -->\\nold\\n<!-- /render:demo -->\\nb", {"demo": lambda: "new"})
'a\\n<!-- render:demo -->\\nnew\\n<!-- /render:demo -->\\nb'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from render_zoo import family_table

from simtransfer.transfer.stats import bootstrap_iqm, format_number

BLOCK = re.compile(r"(<!-- render:([\w-]+) -->\n)(.*?)(<!-- /render:\2 -->)", re.S)
DOCS = ("docs/randomization.md", "docs/progressive.md", "docs/zoo.md")
# suite families whose zero-shot robustness docs/randomization.md shows (the _full families hold every source)
ROBUSTNESS_FAMILIES = ("pendulum", "double_pendulum_full", "reacher_full", "reacher_adr_relative")


def fill(text: str, blocks: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with every render block's body replaced by its renderer's output; an unknown name is an error."""
    def sub(m: re.Match[str]) -> str:
        if m.group(2) not in blocks:
            raise SystemExit(f"render: no renderer for the doc block '{m.group(2)}' (add it to render_docs.blocks)")
        return m.group(1) + blocks[m.group(2)]().rstrip("\n") + "\n" + m.group(4)
    return BLOCK.sub(sub, text)


def _load(results: Path, name: str) -> Any:
    return json.loads((results / f"{name}.json").read_text())


def _f(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format_number(x)


def _mean(xs: list[float]) -> float:
    finite = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(finite) / len(finite) if finite else math.nan


def sensitivity(results: Path) -> str:
    """Per sensitivity sweep: the parameters whose pinned values cost the policy most (lowest ratio, at value)."""
    data = _load(results, "sensitivity")
    lines = ["| task / policy | policy | nominal return | lowest return ratio per parameter (at value; extrap range) |",
             "|---|---|---|---|"]
    for key, run in data.items():
        cells = []
        for name, p in sorted(run["params"].items()):
            rows = [r for r in p["rows"] if r.get("ratio") is not None]
            if not rows:
                continue
            worst = min(rows, key=lambda r: r["ratio"])
            extrap = p.get("extrap")
            span = f"; extrap {_f(extrap[0])}–{_f(extrap[1])}" if extrap else ""
            cells.append(f"{name} {_f(worst['ratio'])} ({_f(worst['value'])}{span})")
        lines.append(f"| {key} | {run['meta'].get('policy', '?')} | {_f(run['nominal_return'])} | {'; '.join(cells)} |")
    return "\n".join(lines)


def zero_shot(results: Path) -> str:
    """Suite families: each source's held-out/nominal ratio (IQM [95% CI], mean ± std) and returns."""
    suite = {f["family"]: f for f in _load(results, "suite")}
    lines = ["| family (held-out split) | source | seeds | nominal return | held-out return | ratio IQM [95% CI] | "
             "ratio mean ± std |", "|---|---|---|---|---|---|---|"]
    for fam in ROBUSTNESS_FAMILIES:
        if fam not in suite:
            continue
        keys = suite[fam]["robustness_keys"]
        held = keys["heldout"][0]
        for r in suite[fam]["robustness"]:
            ratios = np.asarray([x for x in r["ratios"][held] if x is not None and not math.isnan(x)], dtype=float)
            iqm = bootstrap_iqm(ratios).format() if ratios.size else "—"
            spread = f"{ratios.mean():.2f} ± {ratios.std():.2f}" if ratios.size else "—"
            name = "nominal (main)" if r["source"] == "main" else r["source"]
            lines.append(f"| {fam} ({held}) | {name} | {len(r['seeds'])} | {_f(_mean(r['nominal']))} | "
                         f"{_f(_mean(r['targets'][held]))} | {iqm} | {spread} |")
    return "\n".join(lines)


def adr_cost(results: Path) -> str:
    """ADR's cost over uniform DR: 1 − median per-round ratio, per task and measure."""
    cost = _load(results, "robustness").get("cost") or {}
    lines = ["| task | measure | rounds × steps | DR steps/s | ADR steps/s | ADR cost (1 − median ratio) | "
             "per-round ratio range |", "|---|---|---|---|---|---|---|"]
    for task, c in cost.items():
        for label, key in (("env steps", "env_steps"), ("PPO learn", "ppo_learn")):
            m = c[key]
            lines.append(f"| {task} | {label} | {m['rounds']} × {m['steps_per_round']} | {m['dr_steps_per_s']:.0f} | "
                         f"{m['adr_steps_per_s']:.0f} | {100 * m['adr_cost']:.1f}% | "
                         f"{m['ratio']['min']:.2f}–{m['ratio']['max']:.2f} |")
    for label, key in (("PPO learn", "ppo_learn"), ("env steps", "env_steps")):
        under = [task for task, c in cost.items() if c[key]["adr_cost"] <= 0.05]
        lines += ["", f"{label}: ADR's cost is within the 5% goal in {len(under)} of {len(cost)} settings"
                  + (f" ({', '.join(under)})." if under else ".")]
    return "\n".join(lines)


def pixels(results: Path) -> str:
    """The pixel students per result section: labelled frames, scores on training / held-out visuals, random."""
    data = _load(results, "robustness")
    lines = ["| section | student | seeds | labelled frames (agent steps) | training visuals | held-out visuals | "
             "random policy (training / held-out) |", "|---|---|---|---|---|---|---|"]
    for section in sorted(k for k in data if k.startswith("pixels")):
        d = data[section]
        by_method: dict[str, list[dict[str, Any]]] = {}
        for run in d["runs"]:
            by_method.setdefault(run["method"], []).append(run)
        rnd = d["random"]
        for method, runs in by_method.items():
            lines.append(f"| {section} | {method} | {len(runs)} | {_f(runs[0].get('budget'))} | "
                         f"{_f(_mean([r['train_visuals']['mean'] for r in runs]))} | "
                         f"{_f(_mean([r['heldout_visuals']['mean'] for r in runs]))} | "
                         f"{_f(rnd['train_visuals']['mean'])} / {_f(rnd['heldout_visuals']['mean'])} |")
    lines += ["", "Rendering speed measured in each section's run (same machine, same run):", "",
              "| section | state env steps/s | 64×64 pixel env frames/s | SMALL_PIXELS frames/s (physics steps/s) |",
              "|---|---|---|---|"]
    for section in sorted(k for k in data if k.startswith("pixels")):
        sp = data[section].get("speed") or {}
        if sp:
            lines.append(f"| {section} | {sp['state_env_steps_per_s']:.0f} | {sp['pixel64_env_frames_per_s']:.0f} | "
                         f"{sp['small_env_frames_per_s']:.0f} ({sp['small_env_physics_steps_per_s']:.0f}) |")
    return "\n".join(lines)


def runner_zero_shot(results: Path) -> str:
    """The runner-based robustness experiment (``robustness_zero_shot.json``), without its title."""
    from render_robustness import zero_shot as render_zero_shot

    if not (results / "robustness_zero_shot.json").is_file():
        return "Not run yet: no `bench/results/robustness_zero_shot.json`."
    md = render_zero_shot(_load(results, "robustness_zero_shot")).splitlines()
    return "\n".join(md[2:] if md and md[0].startswith("# ") else md)


def progressive_cost(results: Path) -> str:
    """Progressive vs plain PPO env-steps/s (median ratio over interleaved repetitions)."""
    c = _load(results, "progressive")["cost"]
    return "\n".join([
        "| measure | median | range | repetitions × steps |", "|---|---|---|---|",
        f"| progressive / plain steps/s | {c['ratio_median']:.2f}× | {min(c['ratio_per_rep']):.2f}–"
        f"{max(c['ratio_per_rep']):.2f}× | {c['reps']} × {c['steps']} |",
        f"| progressive / plain with fused Adam | {c['ratio_vs_plain_fused_median']:.2f}× | "
        f"{min(c['ratio_vs_plain_fused_per_rep']):.2f}–{max(c['ratio_vs_plain_fused_per_rep']):.2f}× | "
        f"{c['reps']} × {c['steps']} |",
        "", f"Goal: ≥ {c['goal']:.2f}×. Trainable parameters: plain {c['parameters']['plain']}, progressive "
        f"{c['parameters']['progressive_trainable']}."])


def progressive_forgetting(results: Path) -> str:
    """Mean returns on the source task after target training, and on the target task."""
    f = _load(results, "progressive")["forgetting"]
    src, tgt = f["source_task"], f["target_task"]
    rows = [("source task, source before", src["source_before"]), ("source task, fine-tuned", src["finetune_after"]),
            ("source task, progressive source column", src["progressive_source_column_after"]),
            *((f"target task, {k}", v) for k, v in tgt.items())]
    return "\n".join([f"Source {f['source_steps']} steps, target {f['target_steps']} steps, {f['episodes']} "
                      "episodes; mean return:", "", "| policy | mean return |", "|---|---|",
                      *(f"| {name} | {_mean(v):.1f} |" for name, v in rows), "",
                      "Source column bit-identical after target training: "
                      + ("yes" if f["progressive_source_column_identical"] else "**no**") + "."])


def blocks(results: Path) -> dict[str, Callable[[], str]]:
    """Block name → renderer (called only for the blocks a doc holds)."""
    fns = {"sensitivity": sensitivity, "zero_shot": zero_shot, "adr_cost": adr_cost, "pixels": pixels,
           "runner_zero_shot": runner_zero_shot,
           "progressive_cost": progressive_cost, "progressive_forgetting": progressive_forgetting,
           "zoo": lambda results: family_table(_load(results, "zoo"))}
    return {name: (lambda fn=fn: fn(results)) for name, fn in fns.items()}


def render_docs(results: Path, repo: Path) -> dict[Path, str]:
    """Every doc of :data:`DOCS` present under ``repo`` with its blocks re-rendered."""
    table = blocks(results)
    return {repo / d: fill((repo / d).read_text(), table) for d in DOCS if (repo / d).is_file()}
