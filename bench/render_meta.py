"""Markdown of ``bench/results/meta.json`` (``bench/bench_meta.py``): RL²'s adaptation curve vs DR+history.

Part of the one renderer, ``bench/render.py``.

>>> _est({"value": 12.0, "low": -3.0, "high": 30.5, "n": 3})
'12 [-3, 30]'
>>> _est({"value": 12.0, "low": None, "high": None, "n": 1})
'12'
"""

from __future__ import annotations

from typing import Any

from machine import machine_line
from render_format import estimate

WHAT = {
    "rl2": "RL²: RecurrentPPO on trials (LSTM kept across the trial)",
    "dr_history": "DR + history stack (4 obs + actions), PPO",
    "oracle": "oracle: true parameters in the observation, PPO",
}


def _num(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.2g}"


def _est(e: dict[str, Any] | None) -> str:
    return estimate(e, _num)


def _side(e: dict[str, Any], above: str, below: str) -> str:
    """Where the interval lies relative to 0."""
    if e.get("low") is None or e["low"] != e["low"]:
        return "no interval"
    if e["low"] > 0:
        return f"interval above 0: {above}"
    if e["high"] < 0:
        return f"interval below 0: {below}"
    return "interval contains 0: no measurable change"


def _verdict(s: dict[str, Any]) -> list[str]:
    rl2 = s.get("rl2")
    if not rl2:
        return []
    d, gap = rl2["last_minus_first"], s.get("rl2_last_minus_dr_history")
    lines = [f"- RL² last − first episode: {_est(d)} over seeds ({_side(d, 'it adapts', 'it gets worse')}); over "
             f"trials (stratified by seed): {_est(rl2['last_minus_first_trials'])} "
             f"({_side(rl2['last_minus_first_trials'], 'it adapts', 'it gets worse')})."]
    if gap:
        at_least = gap.get("low") is not None and gap["low"] >= 0
        below = gap.get("high") is not None and gap["high"] < 0
        word = "at least as high (interval ≥ 0)" if at_least else ("below it (interval < 0)" if below else
                                                                   "not distinguishable (interval contains 0)")
        lines.append(f"- RL² last episode − DR+history zero-shot: {_est(gap)}: {word}.")
    return lines


def meta(data: dict[str, Any]) -> str:
    st = data["settings"]
    k = st["k"]
    lines = ["# Meta-RL: RL² adaptation curves vs DR + history (`bench/bench_meta.py`)", ""]
    line = machine_line(data)
    resumed = sum(c.get("train_wall_s") is None for by in data.get("cells", {}).values() for c in by.values())
    if line:
        lines += [line + (f" {resumed} of the runs (and their meta-tests) were finished by an earlier invocation of "
                          "the same command: the wall time is this invocation's; training times are below."
                          if resumed else ""), ""]
    lines += [
        f"Setup: configs `{st['configs']}` (randomized InvertedPendulum: motor gain 0.3-3x, actuation delay 0-3 "
        f"steps, 300-step episodes; targets: held-out gain 0.15-0.3x or 3-5x (`extrap`), delay 4-5 steps (`delay`), the "
        f"training distribution (`train`)), {st['seeds']} seed(s) (oracle: {st.get('oracle_seeds', st['seeds'])}), {st['timesteps']} training steps per policy. Meta-test: "
        f"{st['trials']} trials of K={k} episodes of one sampled physics per run and target (`simtransfer evaluate "
        f"RUN --trial-episodes {k} --json`); reactive policies play the same episodes with their memory reset at "
        "every episode. Each cell: IQM over seeds of the seed's mean over trials, 95% bootstrap interval over "
        "seeds (one seed: no interval; with few seeds that bootstrap resamples few values, so also read the "
        "interval over trials, stratified by seed). Few-shot@k (the report's axis): RL²'s episode k; zero-shot policies are "
        "constant in k, so their few-shot value is the mean over the trial.", ""]
    for target, s in data["summary"].items():
        lines += [f"## Target: {target}", "", f"Target spec: `{st['targets'][target]}`.", "",
                  "| policy | " + " | ".join(f"episode {i + 1}" for i in range(k)) + " | last − first | few-shot@1 | "
                  f"few-shot@{k} |", "|---|" + "---|" * (k + 3)]
        for variant, v in s.items():
            if variant not in WHAT:
                continue
            lines.append(f"| {WHAT[variant]} | " + " | ".join(_est(c) for c in v["curve"]) +
                         f" | {_est(v['last_minus_first'])} | {_est(v['few_shot'][0])} | {_est(v['few_shot'][-1])} |")
        lines += ["", *_verdict(s), ""]
        per_seed = [f"`{var}` " + "; ".join("→".join(_num(x) for x in c) for c in v["per_seed_curve"])
                    for var, v in s.items() if var in WHAT]
        lines += ["Per seed (episode 1 → K): " + ", ".join(per_seed) + ".", ""]
    curves = {v: [c.get("curve") for c in by.values()] for v, by in data.get("cells", {}).items()}
    if any(any(c) for c in curves.values()):
        lines += ["## Training curves (return on the training distribution; RL²: the sum over a trial of "
                  f"{k} episodes)", "", "| policy | per seed: steps → return |", "|---|---|"]
        for v, cs in curves.items():
            cells = ["; ".join(f"{int(t / 1000)}k: {_num(r)}" for t, r in zip(c["timesteps"], c["mean_return"],
                                                                              strict=True)) for c in cs if c]
            lines.append(f"| {v} | " + " / ".join(cells) + " |")
        lines.append("")
    times = {v: [c.get("train_time_s") for c in by.values()] for v, by in data.get("cells", {}).items()}
    total = sum(t for ts in times.values() for t in ts if t)
    lines += ["Training time per run (s, measured by `simtransfer train`; runs of earlier invocations ran under heavier "
        "load than the one above): " + ", ".join(
        f"`{v}` {', '.join(_num(t) for t in ts)}" for v, ts in times.items()) + f"; {_num(total)} s in all. "
        "The full setting (`--full`: 5 seeds × 150k steps, 20 trials) is 5/seeds × 150k/steps times as much "
        f"training: about {_num(total * 5 / st['seeds'] * 150_000 / st['timesteps'] / 3600)} h of run time at the "
        "loads these runs had, before the parallel workers (`--workers`, default 3) divide it."]
    return "\n".join(lines).rstrip() + "\n"
