"""Throughput cost of the physics randomizer on every Bullet task: plain vs randomized, same run.

Each task runs the same seeded random actions on the plain env and on the env wrapped by the randomizer
(the task's preset: every parameter kind on, a new sample at every reset). Episodes end naturally or at
``--max-steps`` (so resets are frequent). Trials interleave plain/randomized (order alternating per round) and
the cost is ``1 - median(randomized steps/s / plain steps/s)`` over rounds, which cancels slow drifts from
other processes sharing the CPU.

    python bench/bench_envs.py                     # all tasks, writes bench/results/envs.json, then renders it
    python bench/bench_envs.py --tasks Hopper Ant --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402
from machine import measured  # noqa: E402

from simtransfer.envs.randomization import PhysicsRandomizer, apply_randomization  # noqa: E402
from simtransfer.envs.registry import TASKS, preset  # noqa: E402
from simtransfer.envs.spec import import_object  # noqa: E402

GOAL = 0.02


def make(task: str, randomized: bool, max_steps: int) -> gym.Env:
    base = import_object(TASKS[task].entry_point)()
    env = apply_randomization(base, preset(task)) if randomized else base
    return gym.wrappers.TimeLimit(env, max_episode_steps=min(max_steps, TASKS[task].max_episode_steps))


def run_trial(env: gym.Env, actions: np.ndarray, seed: int) -> tuple[float, int]:
    """Steps per CPU-second over ``len(actions)`` steps (resets included) and the number of resets.

    CPU time of this process (not wall time) so that waiting for a CPU shared with other jobs does not count.
    """
    step, reset = env.step, env.reset
    resets = 1
    t0 = time.process_time()
    reset(seed=seed)
    for a in actions:
        _, _, term, trunc, _ = step(a)
        if term or trunc:
            reset()
            resets += 1
    return len(actions) / (time.process_time() - t0), resets


def self_time_share(env: gym.Env, actions: np.ndarray | list, rounds: int) -> float:
    """Share of CPU time spent in the randomizer itself (its reset minus the task's reset) while stepping.

    Less sensitive to a busy CPU than the throughput ratio, but blind to how the changed physics itself runs.
    """
    inner: Any = env
    while not isinstance(inner, PhysicsRandomizer):
        inner = inner.env
    rz, base = inner, inner.env
    spent = {"outer": 0.0, "inner": 0.0}
    outer_reset, inner_reset = rz.reset, base.reset

    def timed(fn, key):  # noqa: ANN001, ANN202
        def call(**kw):  # noqa: ANN003, ANN202
            t = time.process_time()
            out = fn(**kw)
            spent[key] += time.process_time() - t
            return out
        return call

    # the inner timer's own cost lands inside the outer interval: calibrate it and take it out
    probe = timed(lambda **kw: None, "probe")
    spent["probe"] = 0.0
    t = time.process_time()
    for _ in range(2000):
        probe(seed=None, options=None)
    timer_cost = (time.process_time() - t) / 2000
    rz.reset, base.reset = timed(outer_reset, "outer"), timed(inner_reset, "inner")
    total, resets = 0.0, 0
    try:
        for r in range(rounds):
            t = time.process_time()
            resets += run_trial(env, actions, seed=100 + r)[1]
            total += time.process_time() - t
    finally:
        del rz.reset, base.reset  # drop the instance attributes: back to the class methods
    return max(0.0, spent["outer"] - spent["inner"] - resets * timer_cost) / total


def bench_task(task: str, rounds: int, trial_s: float, max_steps: int) -> dict[str, Any]:
    """Interleaved rounds of plain, randomized and a second plain env (the A/A control: its ratio to the first
    plain env is the measurement noise floor)."""
    envs_ = {"plain": make(task, False, max_steps), "randomized": make(task, True, max_steps),
             "control": make(task, False, max_steps)}
    rng = np.random.default_rng(0)
    space = envs_["plain"].action_space

    def actions(n: int) -> np.ndarray | list:
        if isinstance(space, gym.spaces.Discrete):
            return [int(x) for x in rng.integers(space.n, size=n)]
        return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)

    warm = actions(300)
    rate, _ = run_trial(envs_["plain"], warm, 0)
    for env in envs_.values():
        run_trial(env, warm, 0)
    n = max(200, int(trial_s * rate))
    rates: dict[str, list[float]] = {k: [] for k in envs_}
    ratios, control, resets = [], [], []
    names = list(envs_)
    for r in range(rounds):
        acts = actions(n)
        order = names[r % 3:] + names[: r % 3]  # rotate who goes first
        for name in order:
            rate, k = run_trial(envs_[name], acts, seed=r)
            rates[name].append(rate)
            if name == "randomized":
                resets.append(k)
        ratios.append(rates["randomized"][-1] / rates["plain"][-1])
        control.append(rates["control"][-1] / rates["plain"][-1])
    share = self_time_share(envs_["randomized"], actions(n), rounds=3)
    for env in envs_.values():
        env.close()
    ratio = statistics.median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    per_episode = n / statistics.median(resets)
    plain_rate, rand_rate = statistics.median(rates["plain"]), statistics.median(rates["randomized"])
    return {"task": task, "steps_per_trial": n, "rounds": rounds,
            "plain_steps_per_s": plain_rate, "randomized_steps_per_s": rand_rate,
            "ratio": ratio, "ratio_iqr": [q1, q3], "cost": 1.0 - ratio,
            "control_ratio": statistics.median(control), "noise_floor": abs(1.0 - statistics.median(control)),
            "resets_per_trial": statistics.median(resets), "steps_per_episode": per_episode,
            "overhead_us_per_episode": (1 / rand_rate - 1 / plain_rate) * per_episode * 1e6,
            "randomizer_self_time_share": share, "ratios": ratios, "meets_goal": 1.0 - ratio <= GOAL}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--rounds", type=int, default=25, help="interleaved plain/randomized rounds per task")
    ap.add_argument("--trial-seconds", type=float, default=0.1, help="approximate length of one trial")
    ap.add_argument("--max-steps", type=int, default=100, help="episode cap (keeps resets frequent)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"rounds": args.rounds, "trial_s": args.trial_seconds,
                              "max_steps": args.max_steps, "goal_cost": GOAL, "tasks": []}
    with measured(result):  # the shared machine record, plus what the renderer's envs table names
        import pybullet_envs_gymnasium

        result["machine"].update(nproc=result["machine"]["cpus"], gymnasium=gym.__version__,
                                 pybullet_envs_gymnasium=getattr(pybullet_envs_gymnasium, "__version__", "?"),
                                 load_avg_1min=(result["load_before"] or [float("nan")])[0])
        for task in args.tasks:
            r = bench_task(task, args.rounds, args.trial_seconds, args.max_steps)
            result["tasks"].append(r)
            print(f"{task:24s} plain {r['plain_steps_per_s']:9,.0f}/s  randomized {r['randomized_steps_per_s']:9,.0f}/s  "
                  f"cost {r['cost']:+.2%}  (control {r['control_ratio']:.3f}, "
                  f"self-time {r['randomizer_self_time_share']:.2%})", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "envs.json").write_text(json.dumps(result, indent=2))
    render.main([])
    return 0 if all(r["meets_goal"] for r in result["tasks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
