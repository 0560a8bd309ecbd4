"""Markdown for ``bench/results/calibration.json`` (bench/bench_calibration.py): recovery, policies, cost."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simtransfer.transfer.stats import bootstrap_iqm  # noqa: E402

RELATIVE = ("mass", "motor_gain", "lateral_friction")
ARMS = ("nominal", "dr_physics", "dr", "calibrated", "oracle")
LABELS = {"nominal": "nominal", "dr_physics": "uncalibrated DR, physics ranges only (no actuator/sensor kinds)",
          "dr": "uncalibrated DR (shipped preset)", "calibrated": "calibrated DR",
          "oracle": "oracle (trained on the stand-in)"}


def _recovery(task: str, e: dict[str, Any]) -> list[str]:
    rec = e.get("recovery", {})
    if not rec:
        return []
    seeds = sorted(rec, key=int)
    names = list(rec[seeds[0]]["estimates"])
    lines = [f"### Parameter recovery ({len(seeds)} seeds, {e['episodes']} logged episodes each, scripted excitation, "
             f"CMA-ES budget {e['budget']})",
             "", "| parameter | true | estimates (per seed) | median relative error | identified | true value in "
             "the 95% interval |", "|---|---|---|---|---|---|"]
    for n in names:
        rows = [rec[s]["estimates"][n] for s in seeds]
        vals = ", ".join(f"{r['value']:.3g}" for r in rows)
        true = rows[0].get("true")
        if true is None and n.partition("@")[0] in RELATIVE:  # a relative parameter the stand-in leaves nominal
            true = 1.0
        errs = [] if true in (None, 0) else [abs(r["value"] - true) / abs(true) for r in rows]
        med = "" if not errs else ("exact " + f"{sum(x == 0 for x in errs)}/{len(errs)}" if n.endswith("latency")
                                  else f"{100 * float(np.median(errs)):.1f}%")
        ident = f"{sum(r['identified'] for r in rows)}/{len(rows)}"
        bounded = [r for r in rows if r.get("low") is not None and r.get("high") is not None]
        cover = "" if true is None or not bounded else \
            f"{sum(r['low'] <= true <= r['high'] for r in bounded)}/{len(bounded)}"
        lines.append(f"| {n} | {'' if true is None else f'{true:g}'} | {vals} | {med} | {ident} | {cover} |")
    walls = [rec[s]["wall_s"] for s in seeds]
    cpus = [rec[s]["cpu_s"] for s in seeds]
    steps = [rec[s]["steps"] for s in seeds]
    loads = [rec[s]["load"] for s in seeds] + [rec[s]["load_before"] for s in seeds if "load_before" in rec[s]]
    evals = [rec[s]["evaluations"] for s in seeds]
    lines += ["", f"Calibration time per seed: wall {min(walls):.0f}-{max(walls):.0f} s (median "
              f"{float(np.median(walls)):.0f} s), CPU {min(cpus):.0f}-{max(cpus):.0f} s (median "
              f"{float(np.median(cpus)):.0f} s; one process); {min(evals)}-{max(evals)} simulator evaluations; "
              f"logged steps {min(steps)}-{max(steps)}; machine load (1-min average, "
              f"{'before and after' if len(loads) > len(seeds) else 'after'} each calibration) "
              f"{min(loads):.1f}-{max(loads):.1f}.", ""]
    diag = e.get("diagnosis", {})
    if diag:
        ds = sorted(diag, key=int)
        gaps = [100 * (diag[s]["cost_truth"] / diag[s]["cost_fit"] - 1) for s in ds]
        short = sum(g < 0 for g in gaps)
        lines += ["Diagnosis (`--phase diagnose`): the fit's own prediction cost (same data and windows) is "
                  f"{min(gaps):.1f}% to {max(gaps):.1f}% higher at the true values than at the estimate (per seed: "
                  + ", ".join(f"{g:.1f}%" for g in gaps) + "). "
                  + (f"On {short}/{len(ds)} seeds the truth is cheaper: the search stopped short there. "
                     if short else "On every seed the estimate costs less than the truth (the search did not stop "
                     "short of it); ")
                  + "the larger the gap, the more the cost itself prefers other values than the truth (model "
                  "mismatch or too little data).", ""]
    return lines


def _policies(e: dict[str, Any]) -> list[str]:
    pol = e.get("policies", {})
    if not any(pol.get(a) for a in ARMS):
        return []
    lines = [f"### Policies on the stand-in (PPO {e['timesteps']} steps, {e['eval_episodes']} evaluation episodes; "
             "IQM over seeds of the mean return, 95% bootstrap interval)", "",
             "| training | seeds | IQM return | 95% interval | per seed | / oracle IQM |", "|---|---|---|---|---|---|"]
    oracle = pol.get("oracle", {})
    o_iqm = bootstrap_iqm([v["mean"] for v in oracle.values()]).value if oracle else None
    for arm in ARMS:
        cells = pol.get(arm, {})
        if not cells:
            continue
        means = [cells[s]["mean"] for s in sorted(cells, key=int)]
        est = bootstrap_iqm(means)
        ratio = "" if not o_iqm else f"{est.value / o_iqm:.2f}"
        lines.append(f"| {LABELS[arm]} | {len(means)} | {est.value:.1f} | [{est.low:.1f}, {est.high:.1f}] | "
                     f"{', '.join(f'{m:.0f}' for m in means)} | {ratio} |")
    for arm in sorted((a for a in pol if a.startswith("oracle_")), key=lambda a: int(a.partition("_")[2])):
        means = [pol[arm][s]["mean"] for s in sorted(pol[arm], key=int)]
        est = bootstrap_iqm(means)
        lines.append(f"| budget probe: oracle with {int(arm.partition('_')[2])} steps (`--probe-oracle`) | "
                     f"{len(means)} | {est.value:.1f} | [{est.low:.1f}, {est.high:.1f}] | "
                     f"{', '.join(f'{m:.0f}' for m in means)} | |")
    return [*lines, ""]


def calibration(data: dict[str, Any]) -> str:
    lines = ["# Real-to-sim calibration on the reality stand-ins (bench/bench_calibration.py)", "",
             "`simtransfer collect scripted` logs the stand-in `simtransfer/<Task>Real-v0` (true parameters in "
             "envs/presets/reality.yaml, outside the shipped training ranges); `simtransfer calibrate` fits the "
             "task's simulator; policies trained four ways are scored on the stand-in.", ""]
    for task, e in data.items():
        truth = ", ".join(f"{k}={v:g}" for k, v in e.get("truth", {}).items())
        lines += [f"## {task}", "", f"Stand-in: {truth}. Machine: {e.get('machine', {}).get('cpus', '?')} CPUs "
                  f"({e.get('machine', {}).get('cpu', '')}).", ""]
        lines += _recovery(task, e) + _policies(e)
    return "\n".join(lines).rstrip() + "\n"


def _arm(cells: dict[str, Any], cand: str, arm: str) -> tuple[str, float | None]:
    means = [c["mean"] for k, c in sorted(cells.items()) if k.startswith(f"{cand}/{arm}/")]
    if not means:
        return "—", None
    est = bootstrap_iqm(means)
    return f"{est.value:.0f} [{est.low:.0f}, {est.high:.0f}] ({len(means)})", est.value


def calibration_sweep(data: dict[str, Any]) -> str:
    """``calibration_sweep.json`` (bench/bench_calibration_sweep.py): candidate stand-ins vs three policies."""
    from simtransfer.envs.reality import true_params

    cells, top, fail = data["cells"], data["max_return"], data["fail"]
    registered = true_params(data["task"], data["task"] + "Hard")  # envs/presets/reality.yaml
    stop = f", mildest first until {data['max_found']} holds" if data.get("max_found") else ""
    lines = [f"# Searching for a harder {data['task']} stand-in (bench/bench_calibration_sweep.py)", "",
             f"PPO ({data['timesteps']} steps, the task's config) trained on nominal physics and on the shipped "
             "preset (uncalibrated DR), scored on each candidate stand-in; where both score below "
             f"{fail:.0%} of the maximum ({top:g}), an oracle PPO trained on the candidate itself (it *holds* at >= 90% "
             f"of the maximum){stop}. Cells: IQM over "
             f"seeds of the mean return over {data['eval_episodes']} episodes, 95% bootstrap interval, (seeds).", "",
             "| candidate | stand-in parameters | nominal | uncalibrated DR | oracle | verdict |",
             "|---|---|---|---|---|---|"]
    for cand in data.get("order", list(data["candidates"])):
        values = data["candidates"][cand]
        (nom, n), (dr, d), (orc, o) = (_arm(cells, cand, a) for a in ("nominal", "dr", "oracle"))
        if n is None or d is None:
            verdict = "incomplete"
        elif max(n, d) >= fail * top:
            verdict = "too easy: an uncalibrated policy holds (no oracle trained)"
        elif o is None:
            verdict = "both fail; no oracle trained in this run"
        else:
            verdict = ("**harder stand-in: both fail, the oracle holds**" if o >= 0.9 * top
                       else "the oracle fails too" if o < fail * top else "the oracle only partly holds")
        params = ", ".join(f"{k}={v:g}" for k, v in values.items())
        if {k: float(v) for k, v in values.items()} == registered:
            verdict += f"; registered as simtransfer/{data['task']}RealHard-v0"
        lines.append(f"| {cand} | {params} | {nom} | {dr} | {orc} | {verdict} |")
    probes: dict[str, list[float]] = {}
    for k, c in sorted(cells.items()):
        cand, arm, _ = k.split("/")
        if arm.startswith("oracle_"):
            probes.setdefault(f"{cand}/{arm.partition('_')[2]}", []).append(c["mean"])
    if probes:
        lines += ["", "Budget probe (is it the oracle's training budget?): the oracle trained longer on a candidate, "
                  "same evaluation:", ""]
        for key, means in probes.items():
            cand, steps = key.split("/")
            est = bootstrap_iqm(means)
            lines.append(f"- `{cand}`, {int(steps)} steps: {est.value:.0f} [{est.low:.0f}, {est.high:.0f}] "
                         f"({len(means)} seed{'s' if len(means) > 1 else ''}; {data['timesteps']} steps: "
                         f"{_arm(cells, cand, 'oracle')[0]})")
    lines += ["", f"CPU time of the sweep's finished cells (training and evaluation, the process and its children): "
              f"{data.get('cpu_s', 0) / 60:.1f} min; machine {data['machine']['cpus']} CPUs "
              f"({data['machine']['cpu']}), load average {data.get('load_before', ['?'])[0]} → "
              f"{data.get('load_after', ['?'])[0]}.", ""]
    return "\n".join(lines).rstrip() + "\n"
