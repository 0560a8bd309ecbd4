"""Markdown of ``bench/results/zoo.json`` (``bench/bench_zoo.py``): the source zoo against its competence bars.

Part of the one renderer, ``bench/render.py``; the family table also fills the ``render:zoo`` block of
docs/zoo.md (through render_docs.py, like every doc block).

>>> _num(9358.4), _num(12.71), _num(None)
('9358', '12.7', 'n/a')
"""

from __future__ import annotations

from typing import Any

from machine import machine_line


def _num(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _est(g: dict[str, Any]) -> str:
    if g.get("low") is None or g["low"] != g["low"]:
        return _num(g["iqm"])
    return f"{_num(g['iqm'])} [{_num(g['low'])}, {_num(g['high'])}]"


def _minutes(xs: list[float | None]) -> str:
    vals = [x for x in xs if x is not None]
    return f"{sum(vals) / 60:.1f}" if vals else "n/a"


def family_table(data: dict[str, Any]) -> str:
    """One row per shipped family/kind: nominal return (IQM over seeds, 95% CI) against the family's bar."""
    refs = data["references"]
    lines = ["| family | kind | seeds | steps | nominal return, IQM [95% CI] | per seed | bar (basis) | "
             "RL Zoo PPO | seeds at bar | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for g in data["groups"]:
        ref = refs[g["family"]]
        steps = sorted({s // 1000 for s in g["timesteps"]})
        steps_text = f"{steps[0]}k–{steps[-1]}k" if len(steps) > 1 else f"{steps[0]}k"
        zoo = f"{_num(ref['rl_zoo_ppo'])} ({ref['rl_zoo_steps'] // 10**6}M steps)" if ref.get("rl_zoo_ppo") else "—"
        verdict = f"**{g['verdict']}**" if g["verdict"] != "competent" else g["verdict"]
        lines.append(f"| {g['family']} | {g['kind']} | {len(g['seeds'])} | {steps_text} | {_est(g)} | "
                     f"{', '.join(_num(r) for r in g['returns'])} | {_num(ref['bar'])} ({ref['basis']}) | {zoo} | "
                     f"{g['at_bar']}/{len(g['seeds'])} | {verdict} |")
    return "\n".join(lines) + "\n"


def zoo(data: dict[str, Any]) -> str:
    lines = ["# Source zoo (`bench/bench_zoo.py`)", ""]
    line = machine_line(data)
    if line:
        lines += [line + " (the measure stage only; training times below)", ""]
    lines += [
        "Each shipped source's return on nominal physics: the final evaluation `simtransfer train` recorded "
        "(10 episodes; reacher 30), IQM over seeds with a 95% bootstrap interval. **competent**: every seed "
        "reaches the family's bar; a locomotion family below its bar is **smoke-level**, any other "
        "**below bar**. Steps: the steps trained (runs stop early once the training distribution scores the bar).",
        "", family_table(data)]
    lines += _suite_lines(data)
    if data.get("untrained_families"):
        lines += [f"Not in the zoo (not trained on this machine): {', '.join(data['untrained_families'])}.", ""]
    if data.get("missing"):
        miss = ", ".join(f"{k} ({n} of 3 seeds missing)" for k, n in data["missing"].items())
        lines += [f"Configured but not yet trained: {miss}. `python bench/bench_zoo.py train` continues.", ""]
    for old in data.get("superseded") or []:
        lines += [f"Superseded: `{old['name']}` ({old['env']}, {old['timesteps'] // 1000}k steps) scored "
                  f"{_num(old['nominal_return'])} on nominal physics ({old['episodes']} episodes); its config was "
                  "changed and the run replaced.", ""]
    lines += ["## Training cost", "",
              "Per family/kind: runs shipped, steps trained (the config's budget; runs stop early at the bar, and a run "
              "killed for time was finished early with `--set total_timesteps`), total wall and CPU minutes of `simtransfer train` (niced, on the "
              "shared 2-core machine, at most 2 trainings at a time; wall time mostly waits for other jobs).", "",
              "| family | kind | runs | steps per run (planned) | wall min | CPU min | CPU s per 1k steps |",
              "|---|---|---|---|---|---|---|"]
    for g in data["groups"]:
        cpu = [c for c in g["cpu_s"] if c]
        rate = f"{sum(cpu) / sum(g['timesteps']) * 1000:.2f}" if cpu and len(cpu) == len(g["cpu_s"]) else "n/a"
        lines.append(f"| {g['family']} | {g['kind']} | {len(g['seeds'])} | "
                     f"{', '.join(f'{t // 1000}k' for t in g['timesteps'])} "
                     f"({data['planned_steps'][g['family'] + '/' + g['kind']] // 1000}k) | {_minutes(g['wall_s'])} | "
                     f"{_minutes(g['cpu_s'])} | {rate} |")
    lines += ["", f"Zoo size on disk: {data['zoo_bytes'] / 1024:.0f} KiB.", ""]
    lines += _estimate_lines(data.get("estimate"))
    lines += _tune(data.get("tune") or {})
    return "\n".join(lines).rstrip() + "\n"


def _suite_lines(data: dict[str, Any]) -> list[str]:
    rows = data.get("suite_sources") or []
    if not rows:
        return []
    refs = data["references"]
    lines = ["For comparison, the sources the benchmark suite trains itself in each run (not shipped; "
             "`bench/results/suite.json`, 5 seeds, the suite's source budgets), against the same bars:", "",
             "| family | source | nominal return, IQM [95% CI] | bar | seeds at bar | verdict |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        verdict = f"**{r['verdict']}**" if r["verdict"] != "competent" else r["verdict"]
        lines.append(f"| {r['family']} | {r['source']} | {_est(r)} | {_num(refs[r['family']]['bar'])} | "
                     f"{r['at_bar']}/{len(r['returns'])} | {verdict} |")
    measured = {r["family"] for r in rows} | {g["family"] for g in data["groups"]}
    never = sorted(set(refs) - measured)
    if never:
        lines += ["", f"No source return measured on nominal physics: {', '.join(never)}."]
    return lines + [""]


def _estimate_lines(est: dict[str, Any] | None) -> list[str]:
    if not est:
        return []
    known = {k: v for k, v in est["per_kind"].items() if v["cpu_min"] is not None}
    lines = ["**What the full zoo costs** (from the runs above): 3 seeds per family/kind at the measured mean CPU "
             "time per run — " + ", ".join(f"{k} {v['cpu_min']:.1f}" for k, v in known.items()) +
             f" CPU-minutes ({sum(v['cpu_min'] for v in known.values()):.0f} in all)"]
    unknown = [k for k, v in est["per_kind"].items() if v["cpu_min"] is None]
    if unknown:
        lines[-1] += f"; not measured yet: {', '.join(unknown)}"
    lines[-1] += "."
    loc = est.get("locomotion")
    if loc:
        lines[-1] += (f" Locomotion at RL Zoo's budget ({loc['steps_per_run'] // 10**6}M steps, "
                      f"{loc['runs_per_family']} runs per family) at the hopper run's rate on this loaded machine "
                      f"({loc['wall_s_per_step'] * 1000:.1f} ms wall per step): about "
                      f"{loc['wall_h_per_family']:.0f} hours per family.")
    return lines + [""]


def _tune(tunes: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for family, t in tunes.items():
        best = t["best"]
        lines += [f"## Tuned options: {family}", "",
                  f"`simtransfer tune` ({t['sampler']} sampler, seed {t['seed']}) of `{t['method']}` on target "
                  f"`{t['target']}`: {len(t['trials'])} trials, each {len(t['seeds'])} seeds × "
                  f"{t['budget_timesteps']} target steps, objective IQM {t['metric']} return (95% CI). "
                  f"Chosen: trial {best['number']}, written to `experiments/configs/tuned/{family}.yaml`.", "",
                  "| trial | " + " | ".join(p["name"] for p in t["params"]) + " | objective [95% CI] |",
                  "|---|" + "---|" * len(t["params"]) + "---|"]
        for tr in sorted(t["trials"], key=lambda tr: -tr["value"]):
            iv = tr.get("interval") or {}
            ci = f" [{_num(iv.get('low'))}, {_num(iv.get('high'))}]" if iv.get("low") is not None else ""
            mark = " (chosen)" if tr["number"] == best["number"] else ""
            lines.append(f"| {tr['number']}{mark} | " + " | ".join(f"{tr['options'][p['name']]:.3g}"
                         if isinstance(tr["options"][p["name"]], float) else str(tr["options"][p["name"]])
                         for p in t["params"]) + f" | {_num(tr['value'])}{ci} |")
        lines.append("")
        others = [tr for tr in t["trials"] if tr["number"] != best["number"]]
        low = (best.get("interval") or {}).get("low")
        if others and low is not None and any(tr["value"] >= low for tr in others):
            lines += ["The chosen trial's interval contains other trials' objectives: at this budget the search "
                      "does not separate these options; the choice is TPE's best point estimate, not a clear "
                      "winner.", ""]
        if t.get("timing"):
            wall = sum(i["wall_s"] for i in t["timing"]) / 60
            cpu = sum(i["cpu_s"] for i in t["timing"]) / 60
            lines += [f"Cost: {wall:.0f} wall minutes, {cpu:.1f} CPU-minutes on this machine (sources from the "
                      "zoo, not trained).", ""]
    return lines
