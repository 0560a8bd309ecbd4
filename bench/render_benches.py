"""Markdown of every bench except the suite: one function per bench kind, each reading only its JSON.

Part of the one renderer, ``bench/render.py`` (the bench scripts write JSON only).

>>> print(runner({"machine": {"cpus": 2, "processor": "x86_64"}, "timesteps_per_job": 10, "workers": 2,
...               "serial_s": [4.0], "parallel_s": [2.0]}).splitlines()[3])
| 2 workers (process pool) | 2.0 | 2.00 |
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import numpy as np
from machine import machine_line


def _machine(data: dict[str, Any], fallback: str | None = None) -> list[str]:
    line = machine_line(data) or fallback
    return [line, ""] if line else []


# ------------------------------------------------------------------------------------------------ envs
def envs(result: dict[str, Any]) -> str:
    m, goal = result["machine"], result["goal_cost"]
    lines = [
        "# Randomizer throughput cost (`bench/bench_envs.py`)", "",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}, gymnasium {m['gymnasium']}; "
        f"1-min load average at start {m['load_avg_1min']:.2f} (the CPU is shared).",
        f"Setup: seeded random actions, episodes end naturally or after {result['max_steps']} steps, every "
        f"preset parameter resampled at every reset; {result['rounds']} interleaved rounds per task, "
        f"~{result['trial_s']} CPU-s per trial; cost = 1 - median ratio. Goal: cost <= {goal:.0%}.", "",
        "Steps/s are per CPU-second of the benchmark process (time.process_time), medians over rounds.", "",
        "The control column is a second, identical plain env measured the same way: its distance from 1 is the",
        "noise floor of this run. Where that noise is as large as the cost, the ratio cannot resolve 2%. The",
        "self-time column is the CPU share spent inside the randomizer's own code: the median cost per reset",
        "times the number of resets, over the total. It is a lower bound on the cost, less sensitive to the",
        "shared CPU, and blind to how fast the changed physics runs.", "",
        "| task | plain steps/s | randomized steps/s | steps/episode | ratio (median) | ratio IQR | cost | "
        "control ratio | randomizer self-time | ratio cost <= 2% |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in result["tasks"]:
        lines.append(f"| {r['task']} | {r['plain_steps_per_s']:,.0f} | {r['randomized_steps_per_s']:,.0f} | "
                     f"{r['steps_per_episode']:.1f} | {r['ratio']:.4f} | {r['ratio_iqr'][0]:.3f}-{r['ratio_iqr'][1]:.3f} | "
                     f"{r['cost']:+.2%} | {r['control_ratio']:.4f} | "
                     f"{r['randomizer_self_time_share']:.2%} | {'yes' if r['meets_goal'] else 'NO'} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- train
def train(results: dict[str, Any]) -> str:
    lines = ["# Training pipeline benchmark", "",
             *_machine(results, "Machine: not recorded in train.json (measured before `bench/machine.py`).")]
    if "throughput" in results:
        t = results["throughput"]
        lines += ["## Throughput (model.learn only, eval off)", "",
                  "| rep | plain SB3 steps/s | simtransfer steps/s | wall ratio | plain steps/CPU-s | "
                  "simtransfer steps/CPU-s | CPU ratio |", "|---|---|---|---|---|---|---|"]
        for i in range(t["reps"]):
            lines.append(f"| {i} | {t['plain_fps'][i]:.0f} | {t['ours_fps'][i]:.0f} | {t['ratio_per_rep'][i]:.3f} | "
                         f"{t['plain_steps_per_cpu_s'][i]:.0f} | {t['ours_steps_per_cpu_s'][i]:.0f} | "
                         f"{t['cpu_ratio_per_rep'][i]:.3f} |")
        lines += ["", f"Median CPU ratio {t['cpu_ratio_median']:.3f} (ratio of medians "
                      f"{t['cpu_ratio_of_medians']:.3f}); median wall ratio {t['ratio_median']:.3f} "
                      f"({t['steps']} steps, {t['env']}). {t['note']}. Third arm, simtransfer with W&B "
                      f"disabled: median CPU ratio {t['wandb_disabled_cpu_ratio_median']:.3f}.", ""]
    if "overhead" in results:
        o = results["overhead"]
        lines += ["## Per-step overhead (CPU time, steady state)", "",
                  f"Pipeline callbacks with no work due: {o['callbacks_us_per_vec_step']} us per vec-step "
                  f"({o['n_envs']} envs); env step {o['env_step_us']} us, with the EpisodeParams wrapper "
                  f"{o['env_step_with_episode_params_us']} us.", ""]
    if "learning" in results:
        lr = results["learning"]
        lines += [f"## Learning: PPO on {lr['env']}, at most {lr['steps']} steps ({lr['config']})", "",
                  "| seed | first step with eval mean >= 950 | final mean return |", "|---|---|---|"]
        for seed, s in lr["seeds"].items():
            lines.append(f"| {seed} | {s['first_step_ge_950']} | {s['final_mean_return']:.1f} |")
        lines += ["", f"Solved on {lr['solved']}/{len(lr['seeds'])} seeds.", ""]
    if "resume" in results:
        r = results["resume"]
        lines += ["## Crash and resume (SIGKILL)", "", "```", json.dumps(r, indent=2), "```", ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- transfer
LEGACY_TRANSFER_SOURCE = "simtransfer/InvertedPendulum-v0"  # what bench_transfer.py trained before it wrote "source"


def _f(x: float) -> str:
    if np.isnan(x):
        return "n/a"
    if np.isinf(x):
        return "never"
    return f"{x:.2f}" if abs(x) < 100 else f"{x:.0f}"


def transfer(results: dict[str, Any]) -> str:
    source = results.get("source", f"PPO on `{LEGACY_TRANSFER_SOURCE}` ({results['source_timesteps']} steps, seed 0)")
    lines = ["# Weight-reuse transfer vs scratch", "",
             f"Source: {source}. "
             f"{results['seeds']} target seeds per method, evaluation every {results['eval_every']} steps "
             f"({results['episodes']} episodes). Steps ratio = steps to threshold / scratch's steps, paired by "
             "seed (< 1: faster; 'never': the method never reached it while scratch did); AUC ratio = area above "
             "the untrained return, method / scratch (> 1: better; < 1: negative transfer). '≤': scratch never "
             "reached the threshold within the budget on some seed, so the ratio there is the upper bound "
             "steps/budget. Median [min, max] over seeds (no bootstrap interval: few seeds). Curves start with "
             "the prepared policy's score at t=0. Metrics computed with `simtransfer.transfer.metrics` (time_to_threshold, "
             "mean_return_over).", ""]
    for pair, res in results["pairs"].items():
        lines += [f"## {pair}: → `{res['target']}` (threshold {res['threshold']:.0f}, budget {res['timesteps']})", "",
                  "| method | reached | steps ratio | AUC ratio | initial return | final return | negative? |",
                  "|---|---|---|---|---|---|---|"]
        for method, m in res["methods"].items():
            sr, ar = m["steps_ratio"], m["auc_ratio"]
            lines.append(
                f"| {method} | {m['reached']}/{sr['n']} | {'≤' if m['ratio_is_bound'] else ''}{_f(sr['median'])} "
                f"[{_f(sr['min'])}, {_f(sr['max'])}] "
                f"| {_f(ar['median'])} [{_f(ar['min'])}, {_f(ar['max'])}] "
                f"| {m['initial']['mean']:.0f} ± {m['initial']['std']:.0f} | {m['final']['mean']:.0f} ± "
                f"{m['final']['std']:.0f} | {'yes' if m['negative_transfer'] and method != 'scratch' else ''} |")
        lines.append("")
    lines.append(f"Seeds: {results.get('seed_list')}." + (f" {machine_line(results)}" if machine_line(results) else ""))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- progressive
def progressive(out: dict[str, Any]) -> str:
    lines = ["# Progressive networks benchmark", ""]
    if "cost" in out:
        c = out["cost"]
        lines += ["## Cost: PPO env-steps/s, InvertedPendulumBulletEnv-v0, one torch thread", "",
                  f"{c['reps']} interleaved repetitions of `learn({c['steps']})` each, n_steps 1024, 10 epochs.", "",
                  "| policy | steps/s per rep | median |", "|---|---|---|"]
        for kind, fps in c["fps"].items():
            lines.append(f"| {kind} | {', '.join(f'{x:.0f}' for x in fps)} | {statistics.median(fps):.0f} |")
        lines += ["", f"Ratio progressive/plain per rep: {', '.join(f'{r:.2f}' for r in c['ratio_per_rep'])}; "
                  f"median **{c['ratio_median']:.2f}x** (goal >= {c['goal']}x)."]
        if "ratio_vs_plain_fused_median" in c:
            lines += ["Progressive policies use Adam's fused kernel by default (the per-tensor loop's update up to "
                      "float rounding); against a plain `MlpPolicy` given the same Adam setting (`plain_fused`) the "
                      f"ratio is {', '.join(f'{r:.2f}' for r in c['ratio_vs_plain_fused_per_rep'])}; "
                      f"median {c['ratio_vs_plain_fused_median']:.2f}x."]
        if "cpu_ratio_median" in c:
            lines.append("Per CPU-second of the benchmark process (`time.process_time`, which a busy machine's "
                         f"scheduling waits do not inflate): ratio {', '.join(f'{r:.2f}' for r in c['cpu_ratio_per_rep'])}; "
                         f"median {c['cpu_ratio_median']:.2f}x.")
        if "loadavg_1_5_15" in c:
            la = c["loadavg_1_5_15"]
            lines.append(f"Machine: {c['cpus']} CPUs; load average (1/5/15 min) before "
                         f"{'/'.join(f'{x:.2f}' for x in la['before'])}, after {'/'.join(f'{x:.2f}' for x in la['after'])}.")
        lines += [f"Trainable parameters: plain {c['parameters']['plain']}, progressive "
                  f"{c['parameters']['progressive_trainable']} (+ the frozen column, stored as buffers).", ""]
    if "forgetting" in out:
        f = out["forgetting"]
        lines += ["## Forgetting: InvertedPendulum (source) after training on the reversed-motor pendulum (target)", "",
                  f"Source PPO {f['source_steps']} steps; target training {f['target_steps']} steps; "
                  f"{f['episodes']} deterministic episodes, same seeds.", "",
                  "| policy | task | mean return | returns |", "|---|---|---|---|"]
        for task, rows in (("source", f["source_task"]), ("target", f["target_task"])):
            for name, rets in rows.items():
                lines.append(f"| {name} | {task} | {statistics.fmean(rets):.1f} | {', '.join(f'{x:.0f}' for x in rets)} |")
        lines += ["", f"Progressive source column identical to the source before target training: "
                  f"**{f['progressive_source_column_identical']}**.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- sensitivity
def sensitivity(data: dict[str, Any]) -> str:
    lines = ["# Sensitivity of nominal policies to one physics parameter (bench/bench_sensitivity.py)", "",
             "A PPO policy (trained on nominal physics unless the heading says otherwise), scored with ONE parameter pinned at each grid value (all "
             "others native). Ratio = mean return at the value / mean return on nominal physics (deterministic "
             "actions, same episode seeds). Relative kinds (mass, lateral_friction, motor_gain) are scales of the "
             "native value; the others are absolute. `train`/`extrap`: the preset's ranges when measured.", ""]
    for key, res in sorted(data.items()):
        meta = res.get("meta", {})
        lines += [f"## {key}", "",
                  f"Policy: {meta.get('policy', res['run'])}. Nominal return {res['nominal_return']:.1f}, random "
                  f"policy {res['random_return']:.1f}; {res['episodes']} episodes per value; measured "
                  f"{meta.get('date', '?')} ({meta.get('sweep_s', 0):.0f} s, load {meta.get('load', '?')}).", "",
                  "| parameter | train range | extrap region | value: ratio (ratio <= 0.6 in bold) |", "|---|---|---|---|"]
        for name, p in res["params"].items():
            cells = []
            for r in p["rows"]:
                txt = f"{r['value']:g}: {r['ratio']:.2f}"
                cells.append(f"**{txt}**" if r["ratio"] <= 0.6 else txt)
            lines.append(f"| {name} | {p['train'][0]:g}–{p['train'][1]:g} | {p['extrap'][0]:g}–{p['extrap'][1]:g} "
                         f"| {', '.join(cells)} |")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ robustness
def _cost_ci(ratios: list[float], n: int = 10_000) -> str:
    """95% bootstrap interval of the cost (1 - median ratio) over the rounds, as '[lo%, hi%]' (seeded)."""
    rng = np.random.default_rng(0)
    meds = np.median(rng.choice(np.asarray(ratios), size=(n, len(ratios)), replace=True), axis=1)
    lo, hi = np.percentile(1.0 - meds, [2.5, 97.5])
    return f"[{100 * lo:.1f}%, {100 * hi:.1f}%]"


def robustness(data: dict[str, Any]) -> str:
    """ADR's cost over uniform DR and the pixel students (``bench/bench_robustness.py``)."""
    lines = ["# Robustness of randomization methods (bench/bench_robustness.py)", "",
             f"Machine: {data.get('machine', '?')}. Generated {data.get('time', '?')}.", ""]
    zs = data.get("zero_shot")
    if zs:
        from render_suite import robustness_markdown

        from simtransfer.experiments.leaderboard import SourceRobustness

        lines += ["## Zero-shot robustness of randomized training", "",
                  f"Experiment `{zs['experiment']}` (shipped source configs), run by the experiment runner. "
                  + (machine_line(zs) or ""), *robustness_markdown([SourceRobustness(**r) for r in zs["rows"]],
                                                                  zs["keys"]), ""]
    cost = data.get("cost") or {}
    if cost:
        lines += ["## Cost of ADR over uniform DR (goal <= 5%)", "",
                  "Interleaved rounds (order alternating), ADR/DR steps/s ratio per round; cost = 1 - median ratio, "
                  "with the ratios' quartiles and range. `env steps`: random actions, 2 DummyVecEnv envs, the main "
                  "process's ADR controller reading every info (thresholds no return reaches, so both write the "
                  "same parameters). `PPO learn`: the task's ppo.yaml PPO, ADR wrapper + ADRCallback vs the preset "
                  "alone, same seed, `learn()` continued round after round.", "",
                  "95% CI: bootstrap of the median ratio (10 000 resamples of the rounds).", "",
                  "| task | measure | rounds x steps | DR steps/s | ADR steps/s | ADR cost | cost 95% CI | ratio IQR | "
                  "ratio range | load (1/5/15 min) before → after |", "|---|---|---|---|---|---|---|---|---|---|"]
        for task, c in cost.items():
            for name, key in (("env steps", "env_steps"), ("PPO learn", "ppo_learn")):
                m, q = c[key], c[key]["ratio"]
                lines.append(f"| {task} | {name} | {m['rounds']} x {m['steps_per_round']} | "
                             f"{m['dr_steps_per_s']:.0f} | {m['adr_steps_per_s']:.0f} | {100 * m['adr_cost']:.1f}% | "
                             f"{_cost_ci(q['values'])} | {q['q1']:.3f}–{q['q3']:.3f} | {q['min']:.3f}–{q['max']:.3f} | "
                             f"{c['load_before']} → {c['load_after']} |")
        lines.append("")
    for section in sorted(k for k in data if k.startswith("pixels")):
        lines += _pixels(section, data[section])
    return "\n".join(lines)


def _pixels(section: str, pix: dict[str, Any]) -> list[str]:
    title = "Pixel observations (InvertedPendulumPixels, TinyRenderer on CPU)"
    title += "" if section == "pixels" else f" — `{section}`"
    sp, cfg, rnd = pix["speed"], pix["config"], pix["random"]
    dag, ppo = cfg["dagger"], cfg["ppo"]
    lines = [f"## {title}", "",
             f"Env kwargs of the learning runs: `{pix['env_kwargs']}`; load {pix['load_before']} → {pix['load_after']}.", "",
             "| env | steps/s (median of 3 interleaved rounds) |", "|---|---|",
             f"| state InvertedPendulum-v0 | {sp['state_env_steps_per_s']:.0f} |",
             f"| pixels 64x64x6 (registered default) | {sp['pixel64_env_frames_per_s']:.0f} frames/s "
             f"({sp['state_over_pixel64_x']:.1f}x slower) |",
             f"| pixels of the learning runs | {sp['small_env_frames_per_s']:.0f} frames/s = "
             f"{sp['small_env_physics_steps_per_s']:.0f} physics steps/s ({sp['state_over_small_physics_x']:.1f}x slower) |", "",
             f"Student: CnnPolicy with `{cfg['extractor']}`, {cfg['physics']} physics, randomized training "
             f"visuals. `dagger`: {dag['iterations']} iterations x {dag['steps']} labelled frames (collection "
             f"episodes capped at {dag['collect_episode_steps']} steps), {dag['epochs']} epochs per iteration, "
             f"teacher `{dag['teacher']}` on the privileged state. "
             + (f"`ppo`: {ppo['timesteps']} steps, n_steps {ppo['n_steps']} x 2 envs, {ppo['epochs']} epochs, "
                "reward scaling. " if ppo["seeds"] else "")
             + "Budget: labelled frames (dagger) or env steps (ppo); steps/s: budget / training seconds (curve "
             "evaluations excluded). "
             f"Returns: sums of per-physics-step rewards (max 1000), mean of {cfg['eval_episodes']} "
             f"deterministic episodes. Random policy: training visuals {rnd['train_visuals']['mean']:.1f}, "
             f"held-out visuals {rnd['heldout_visuals']['mean']:.1f}.", "",
             "| method | seed | budget | steps/s | learning curve (budget: return on training visuals) | "
             "training visuals | held-out visuals |", "|---|---|---|---|---|---|---|"]
    for run in pix["runs"]:
        curve = ", ".join(f"{p['timesteps'] / 1000:g}k: {p['return']:.0f}" for p in run["curve"])
        lines.append(f"| {run['method']} | {run['seed']} | {run['budget']} | {run['steps_per_s']:.0f} | {curve} | "
                     f"{run['train_visuals']['mean']:.0f} | {run['heldout_visuals']['mean']:.0f} |")
    return lines + [""]


# --------------------------------------------------------------------------------------------- sim2sim
def sim2sim(data: dict[str, Any]) -> str:
    a, rows = data["args"], data["rows"]
    episodes = int(a["episodes"])
    machine = machine_line(data) or ("Machine: 2 shared CPU cores (other jobs running), so absolute rates are "
                                     "noisy; the ratio is measured in the same run.")
    lines = ["# Sim-to-sim targets: mapping overhead and random-policy returns", "",
             f"`PYTHONPATH=. python bench/bench_sim2sim.py --steps {a['steps']} --rounds {a['rounds']} --episodes "
             f"{a['episodes']}`; median of interleaved chunks, both envs unwrapped (no TimeLimit/checker), random "
             f"actions. {machine}", "",
             "| task | raw MuJoCo steps/s | target steps/s | target/raw | overhead µs/step |"
             + (" random return Bullet | random return MuJoCo target |" if episodes else ""),
             "|---|---:|---:|---:|---:|" + ("---:|---:|" if episodes else "")]
    for r in rows:
        line = (f"| {r['task']} | {r['raw_steps_per_s']:.0f} | {r['wrapped_steps_per_s']:.0f} | "
                f"{r['wrapped_over_raw']:.2f} | {r['overhead_us_per_step']:.1f} |")
        if episodes:
            line += (f" {r['bullet_random_return']:.1f} ± {r['bullet_random_std']:.1f} |"
                     f" {r['mujoco_random_return']:.1f} ± {r['mujoco_random_std']:.1f} |")
        lines.append(line)
    lines += ["", "Returns use each simulator's own reward (Bullet: alive + progress − electricity − joints-at-limit; "
              "MuJoCo v5: healthy + forward − control cost), so only the per-simulator trend is comparable.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- runner
def runner(result: dict[str, Any]) -> str:
    s, p = statistics.median(result["serial_s"]), statistics.median(result["parallel_s"])
    w = result["workers"]
    lines = ["| run | wall time (s, median) | speed-up vs 1 worker |", "|---|---|---|",
             f"| 1 worker | {s:.1f} | 1.00 |", f"| {w} workers (process pool) | {p:.1f} | {s / p:.2f} |"]
    if result.get("ray_s"):
        r = statistics.median(result["ray_s"])
        lines.append(f"| {w} CPUs (local Ray) | {r:.1f} | {s / r:.2f} |")
    m = result["machine"]
    where = machine_line(result) or f"machine: {m['cpus']} CPUs, {m['processor']}."
    lines.append(f"\n16 jobs (4 sources, 4 random baselines, 8 cells) of {result['timesteps_per_job']} steps; {where}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- faults
FAULT_ROWS = [("faults_injected", "faults injected (kills that fired + lock conflicts + full disks)"),
              ("kills", "SIGKILLs that fired mid-command"), ("lock_conflicts", "concurrent invocations refused"),
              ("disk_full", "full-disk writes"), ("runs_checked", "runs checked after the fault"),
              ("runs_lost", "runs lost (goal 0)"), ("cells_checked", "experiment cells checked"),
              ("cells_corrupted", "cells corrupted (goal 0)")]


def faults(payload: dict[str, Any]) -> str:
    counts = payload["counts"]
    lines = ["# Fault injection", "",
             f"`tests/faults` on {payload['machine']}, {payload['wall_time_s']:.0f} s, pytest exit "
             f"{payload['pytest_exit']}.", "", "| count | value |", "|---|---:|"]
    lines += [f"| {label} | {counts[key]} |" for key, label in FAULT_ROWS if key in counts]
    return "\n".join(lines) + "\n"


def mutation(payload: dict[str, Any]) -> str:
    """``mutation.md``: one row per target, then each survivor with its diff and reason."""
    lines = ["# Mutation testing", "",
             f"mutmut {payload['mutmut']} on {payload['machine']}; each mutant is one small edit (an operator, "
             "a constant, a removed call) to the code, run against the target's fast tests. Killed = some test "
             "failed.", "",
             "| target | code | mutants | killed | survived | timeout | not yet run |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, t in payload["targets"].items():
        c = t["counts"]
        lines.append(f"| {name} | {', '.join(f'`{p}`' for p in t['paths'])} | {c['total']} | {c['killed']} | "
                     f"{c['survived']} | {c['timeout']} | {c['untested']} |")
    if payload.get("not_targeted"):
        lines += ["", "Not mutation-tested yet:", ""]
        lines += [f"- `{path}`: {why}" for path, why in payload["not_targeted"].items()]
    for name, t in payload["targets"].items():
        if not t["survivors"]:
            continue
        lines += ["", f"## Survivors: {name}", ""]
        for s in t["survivors"]:
            reason = s["reason"] or "**unexplained**"
            change = " → ".join(d[1:].strip() for d in s["diff"]) or "(no diff)"
            lines.append(f"- `{s['file']}:{s['line']}` ({s['status']}): `{change}` — {reason}")
    return "\n".join(lines) + "\n"
