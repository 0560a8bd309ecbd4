"""Sim-to-sim targets: mapping overhead and random-policy returns, Bullet source vs MuJoCo target.

For each task: steps/s of the raw MuJoCo v5 env (random ``ctrl``) and of ``simtransfer/<Task>MuJoCo-v0``
(random Bullet-space action, observation mapped into the Bullet layout), measured interleaved in the same run
(both unwrapped: no TimeLimit/checker wrappers), and the mean return of a uniform random policy on
``<Task>BulletEnv-v0`` and on the MuJoCo target (each with its own reward, so scales differ).

    PYTHONPATH=. python bench/bench_sim2sim.py [--steps 2000] [--rounds 4] [--episodes 5] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pybullet_envs_gymnasium  # noqa: F401  (registers the Bullet ids)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402
from machine import measured  # noqa: E402

from simtransfer.agents.evaluation import RandomPolicy, run_episodes
from simtransfer.envs.sim2sim import BULLET_IDS, MUJOCO_IDS, TASKS, register_sim2sim_envs, target_id


def steps_per_second(env: gym.Env, steps: int, rng: np.random.Generator, space: gym.spaces.Box) -> float:
    env.reset(seed=int(rng.integers(1 << 30)))
    actions = rng.uniform(space.low, space.high, size=(steps, *space.shape)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def random_returns(env_id: str, episodes: int, seed: int) -> list[float]:
    env = gym.make(env_id)
    try:
        returns, _ = run_episodes(env, RandomPolicy(env.action_space, seed=seed), episodes=episodes, seed=seed)
    finally:
        env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per timing chunk")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved raw/wrapped chunks per task")
    parser.add_argument("--episodes", type=int, default=5, help="random-policy episodes per env (0: skip)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    register_sim2sim_envs()
    rng = np.random.default_rng(0)
    rows: list[dict] = []
    record: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
    with measured(record):
        measure(args, rng, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sim2sim.json").write_text(json.dumps(record, indent=2))
    render.main([])


def measure(args: argparse.Namespace, rng: np.random.Generator, rows: list[dict]) -> None:
    for task in TASKS:
        raw = gym.make(MUJOCO_IDS[task]).unwrapped
        wrapped = gym.make(target_id(task)).unwrapped
        raw_rates, wrapped_rates = [], []
        for _ in range(args.rounds):
            raw_rates.append(steps_per_second(raw, args.steps, rng, raw.action_space))
            wrapped_rates.append(steps_per_second(wrapped, args.steps, rng, wrapped.action_space))
        row = {
            "task": task,
            "raw_steps_per_s": statistics.median(raw_rates),
            "wrapped_steps_per_s": statistics.median(wrapped_rates),
        }
        row["overhead_us_per_step"] = 1e6 * (1 / row["wrapped_steps_per_s"] - 1 / row["raw_steps_per_s"])
        row["wrapped_over_raw"] = row["wrapped_steps_per_s"] / row["raw_steps_per_s"]
        if args.episodes:
            bullet = random_returns(BULLET_IDS[task], args.episodes, seed=0)
            mujoco = random_returns(target_id(task), args.episodes, seed=0)
            row.update(bullet_random_return=float(np.mean(bullet)), bullet_random_std=float(np.std(bullet)),
                       mujoco_random_return=float(np.mean(mujoco)), mujoco_random_std=float(np.std(mujoco)))
        rows.append(row)
        print(json.dumps(row), flush=True)
        raw.close()
        wrapped.close()

if __name__ == "__main__":
    main()
