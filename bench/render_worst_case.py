"""Markdown of ``bench/results/worst_case.json`` (``bench/bench_worst_case.py``): searched worst-case physics
against random draws, and FGSM/PGD observation attacks against uniform noise. Part of ``bench/render.py``.

>>> _est({"value": -5.0, "low": -9.0, "high": -1.0, "n": 5})
'-5 [-9, -1]'
>>> _est({"value": 12.25, "low": float("nan"), "high": float("nan"), "n": 1})
'12.2'
"""

from __future__ import annotations

import math
from typing import Any

from machine import machine_line
from render_format import estimate


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _est(e: dict[str, Any] | None) -> str:
    return estimate(e, _num)


def _search_table(tasks: dict[str, Any]) -> list[str]:
    lines = ["| task | ranges | nominal return | worst of random draws | CMA-ES worst | CMA − random | CMA at least as bad "
             "| CMA evaluations to match random |", "|---|---|---|---|---|---|---|---|"]
    for name, t in tasks.items():
        s = t["search"]
        summ, seeds = s["summary"], s["seeds"]
        n_rnd = seeds[0]["random"]["evaluations"] if seeds else 0
        n_cma = max((r["cma"]["evaluations"] for r in seeds), default=0)
        match = ", ".join("never" if r["cma"]["evals_to_match_random"] is None else str(r["cma"]["evals_to_match_random"])
                          for r in seeds)
        lines.append(f"| {name} | {s['ranges']} | {_num(s['nominal_return'])} | {_est(summ['random_worst'])} ({n_rnd} draws) | "
                     f"{_est(summ['cma_worst'])} (≤ {n_cma} evaluations) | {_est(summ['cma_minus_random'])} | "
                     f"{summ['cma_at_least_as_bad']}/{summ['n']} seeds | {match} |")
    return lines


def _curve_table(tasks: dict[str, Any]) -> list[str]:
    lines = ["| task | search | after 10 | after 25 | after 50 | after 100 |", "|---|---|---|---|---|---|"]
    for name, t in tasks.items():
        for method in ("random", "cma"):
            per_seed = [r[method]["curve"] for r in t["search"]["seeds"]]
            cells = []
            for k in ("10", "25", "50", "100"):
                vals = [c[k] for c in per_seed if k in c]
                cells.append(", ".join(_num(v) for v in vals) if vals else "—")
            lines.append(f"| {name} | {method} | " + " | ".join(cells) + " |")
    return lines


def _attack_table(name: str, a: dict[str, Any]) -> list[str]:
    lines = [f"**{name}** (clean: mean {_num(a['clean']['mean'])}, CVaR-10% {_num(a['clean']['cvar_10'])}; "
             f"{a['episodes']} episodes per point, PGD {a['pgd_steps']} steps)", "",
             "| epsilon | uniform noise | FGSM | PGD |", "|---|---|---|---|"]
    for i, eps in enumerate(a["epsilons"]):
        cells = []
        for attack in ("uniform", "fgsm", "pgd"):
            row = a["curves"][attack][i]
            cells.append(f"{_num(row['mean'])} (CVaR {_num(row['cvar_10'])}; {row['wall_s']:.0f} s)")
        lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
    return lines + [""]


def _worst_vectors(tasks: dict[str, Any]) -> list[str]:
    """The lowest-return vector CMA-ES found per task (over its search seeds)."""
    lines = []
    for name, t in tasks.items():
        seeds = t["search"]["seeds"]
        if not seeds:
            continue
        best = min(seeds, key=lambda r: r["cma"]["worst_return"])
        vec = ", ".join(f"{k} {_num(v)}" for k, v in best["cma"]["worst_params"].items())
        lines.append(f"- {name} (search seed {best['search_seed']}, return {_num(best['cma']['worst_return'])}): {vec}")
    return ["Worst vector CMA-ES found per task:", "", *lines, ""]


def _verdicts(tasks: dict[str, Any]) -> list[str]:
    """Generated one-line readings of both tables."""
    pairs = [r for t in tasks.values() for r in t["search"]["seeds"]]
    hit = sum(r["cma"]["worst_return"] <= r["random"]["worst_return"] for r in pairs)
    match = sorted(r["cma"]["evals_to_match_random"] for r in pairs if r["cma"]["evals_to_match_random"] is not None)
    med = f"; median evaluations to match: {match[len(match) // 2]}" if match else ""
    points = [(t["attack"]["curves"]["uniform"][i], t["attack"]["curves"][a][i])
              for t in tasks.values() for a in ("fgsm", "pgd") for i in range(len(t["attack"]["epsilons"]))]
    below = sum(att["mean"] < uni["mean"] for uni, att in points)
    pgd_fgsm = [(t["attack"]["curves"]["fgsm"][i]["mean"], t["attack"]["curves"]["pgd"][i]["mean"])
                for t in tasks.values() for i in range(len(t["attack"]["epsilons"]))]
    return [f"**Reading.** CMA-ES found a vector at least as bad as the worst of the random draws in {hit} of "
            f"{len(pairs)} (task, search seed) pairs{med}. Gradient attacks scored below uniform noise of the same "
            f"epsilon at {below} of {len(points)} (task, attack, epsilon) points; PGD at or below FGSM at "
            f"{sum(p <= f for f, p in pgd_fgsm)} of {len(pgd_fgsm)} (the attacks maximize the change of the action "
            "distribution, not the loss of return, and each point is only a few episodes).", ""]


def worst_case(data: dict[str, Any]) -> str:
    s = data["settings"]
    horizon = f"episodes cut at {s['horizon']} steps" if s.get("horizon") else "the tasks' own episode lengths"
    lines = ["# Worst-case physics and observation attacks (`bench/bench_worst_case.py`)", ""]
    line = machine_line(data)
    if line:
        lines += [line, ""]
    lines += [
        f"Setting `{data['setting']}`: {s['seeds']} search seed(s); every parameter vector is scored on the same "
        f"{s['episodes']} seeded episode(s) (common random numbers), {horizon}. Each source is a short PPO run "
        "of the task's shipped config, trained with the project's own `train` (steps per task below). The "
        "search box (every randomizable parameter, log scale for log-uniform ones) is the task's preset split "
        "named in the table: `train` = the training ranges, `extrap` = the extrapolation region.", "",
        "## Does CMA-ES find physics at least as bad as the worst of 100 random draws?", "",
        "Returns are mean episode returns at the worst vector found (lower is worse for the policy); IQM over "
        "search seeds with a 95% bootstrap interval (one seed: the value alone). *CMA − random* ≤ 0 means the "
        "search found worse physics; *evaluations to match*: per seed, how many CMA evaluations it took to get "
        "at or below the random draws' worst (never: it did not within its budget).", "",
        *_search_table(data["tasks"]), "", *_verdicts(data["tasks"]), *_worst_vectors(data["tasks"]),
        "Best (lowest) return found so far, per search seed:", "",
        *_curve_table(data["tasks"]), "",
        "Source steps: " + ", ".join(f"{k} {t['source_timesteps']}" for k, t in data["tasks"].items()) + ". "
        "Wall time per search in seconds (random draws / CMA-ES, per seed): " + "; ".join(
            f"{k} " + ", ".join(f"{r['random']['wall_s']:.0f}/{r['cma']['wall_s']:.0f}" for r in t["search"]["seeds"])
            for k, t in data["tasks"].items()) + ".", "",
        "## Return vs epsilon: FGSM/PGD against uniform noise of the same L∞ bound", "",
        "Epsilon is in running standard deviations of each observation dimension (after the run's "
        "VecNormalize: what the network sees). Mean return over the episodes, in brackets its CVaR-10% and the "
        "wall time of the point.", ""]
    for name, t in data["tasks"].items():
        lines += _attack_table(name, t["attack"])
    return "\n".join(lines).rstrip() + "\n"
