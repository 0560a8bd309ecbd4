"""Benchmark progressive networks; writes bench/results/progressive.json (``bench/render.py`` renders the Markdown).

Parts (``--parts``, default both):
- ``cost``: PPO env-steps/s on InvertedPendulumBulletEnv-v0 with a progressive policy (one frozen source
  column + new column, [64, 64] each) vs a plain ``MlpPolicy`` ([64, 64]); same env and hyperparameters,
  interleaved repetitions (order rotates), one torch thread. Times ``model.learn`` only. Progressive policies
  default to Adam's fused kernel (the loop's update up to float rounding); a third policy, the plain
  ``MlpPolicy`` with the same Adam setting, shows how much of the ratio that choice accounts for.
- ``forgetting``: train a source PPO on InvertedPendulum, then train on the same pendulum with its motor
  reversed (action negated: a wiring change the source policy must unlearn) from scratch, by plain fine-tuning
  and by a progressive column; score each on the target and on the *source* task (deterministic, same seeds).
  The progressive source column is run through ``policy.source_column_forward``.

    python bench/bench_progressive.py                            # ~3 min on 2 busy cores
    python bench/bench_progressive.py --parts cost --steps 4096 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402
from machine import measured  # noqa: E402

os.environ.setdefault("WANDB_SILENT", "true")

SOURCE_ENV, TARGET_ENV = "InvertedPendulumBulletEnv-v0", "reversed-motor InvertedPendulumBulletEnv-v0"
PPO_KW = {"n_steps": 1024, "batch_size": 64, "n_epochs": 10}


def _negate(action):
    return -action


def _env(env_id: str):
    import gymnasium as gym
    import pybullet_envs_gymnasium  # noqa: F401

    if env_id == TARGET_ENV:
        env = gym.make(SOURCE_ENV)
        return gym.wrappers.TransformAction(env, _negate, env.action_space)
    return gym.make(env_id)


def _save_source(model, run_dir: Path) -> Path:
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().clone().contiguous() for k, v in model.policy.state_dict().items()},
              str(run_dir / "policy.safetensors"))
    (run_dir / "metadata.json").write_text(json.dumps({"algo": "ppo", "policy": {"net_arch": [64, 64]}}))
    return run_dir


def _progressive(env, runs: list[Path], seed: int):
    from stable_baselines3 import PPO

    from simtransfer.envs.spec import import_object
    from simtransfer.transfer.progressive import load_source_columns, progressive_policy_spec

    path, kwargs = progressive_policy_spec(runs, env.observation_space, env.action_space, "ppo", net_arch=[64, 64],
                                           fast=True)
    model = PPO(import_object(path), env, policy_kwargs=kwargs, seed=seed, **PPO_KW)
    load_source_columns(model, runs)
    return model


def cost(steps: int, reps: int, tmp: Path) -> dict:
    from stable_baselines3 import PPO

    src = _save_source(PPO("MlpPolicy", _env(SOURCE_ENV), policy_kwargs={"net_arch": [64, 64]}, seed=0), tmp / "src")
    kinds = ["plain", "progressive", "plain_fused"]
    fps: dict[str, list[float]] = {k: [] for k in kinds}
    cpu_fps: dict[str, list[float]] = {k: [] for k in kinds}  # per CPU-second of this process: less load noise
    load_before = os.getloadavg()
    for rep in range(reps):
        for kind in kinds[rep % 3 :] + kinds[: rep % 3]:
            env = _env(SOURCE_ENV)
            if kind == "progressive":
                model = _progressive(env, [src], seed=rep)
            else:
                kw = {"net_arch": [64, 64]}
                if kind == "plain_fused":
                    kw["optimizer_kwargs"] = {"eps": 1e-5, "fused": True}
                model = PPO("MlpPolicy", env, policy_kwargs=kw, seed=rep, **PPO_KW)
            t0, c0 = time.perf_counter(), time.process_time()
            model.learn(steps)
            fps[kind].append(steps / (time.perf_counter() - t0))
            cpu_fps[kind].append(steps / (time.process_time() - c0))
            print(f"cost rep {rep} {kind:14s} {fps[kind][-1]:8.0f} steps/s  {cpu_fps[kind][-1]:8.0f} per CPU-s", flush=True)
    ratios = [p / q for p, q in zip(fps["progressive"], fps["plain"])]
    matched = [p / q for p, q in zip(fps["progressive"], fps["plain_fused"])]
    cpu_ratios = [p / q for p, q in zip(cpu_fps["progressive"], cpu_fps["plain"])]
    params = {
        "plain": sum(p.numel() for p in PPO("MlpPolicy", _env(SOURCE_ENV), policy_kwargs={"net_arch": [64, 64]}).policy.parameters()),
        "progressive_trainable": sum(p.numel() for p in _progressive(_env(SOURCE_ENV), [src], 0).policy.parameters()),
    }
    return {"steps": steps, "reps": reps, "fps": fps, "ratio_per_rep": ratios,
            "ratio_median": statistics.median(ratios), "goal": 0.75, "parameters": params,
            "ratio_vs_plain_fused_per_rep": matched, "ratio_vs_plain_fused_median": statistics.median(matched),
            "cpu_fps": cpu_fps, "cpu_ratio_per_rep": cpu_ratios, "cpu_ratio_median": statistics.median(cpu_ratios),
            "loadavg_1_5_15": {"before": list(load_before), "after": list(os.getloadavg())}, "cpus": os.cpu_count()}


def _score(act, env_id: str, episodes: int, seed: int) -> list[float]:
    import numpy as np

    env = _env(env_id)
    out = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done, total = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total += float(r)
            done = term or trunc
        out.append(total)
    env.close()
    return [float(np.round(x, 3)) for x in out]


def forgetting(source_steps: int, target_steps: int, episodes: int, tmp: Path) -> dict:
    import numpy as np
    import torch
    from stable_baselines3 import PPO

    source = PPO("MlpPolicy", _env(SOURCE_ENV), policy_kwargs={"net_arch": [64, 64]}, seed=0, **PPO_KW)
    source.learn(source_steps)
    src = _save_source(source, tmp / "forget_src")

    def det(model):
        return lambda o: model.predict(o, deterministic=True)[0]

    before = _score(det(source), SOURCE_ENV, episodes, 1000)
    finetune = PPO("MlpPolicy", _env(TARGET_ENV), policy_kwargs={"net_arch": [64, 64]}, seed=1, **PPO_KW)
    finetune.policy.load_state_dict(source.policy.state_dict())
    finetune.learn(target_steps)
    prog = _progressive(_env(TARGET_ENV), [src], seed=1)
    prog.learn(target_steps)
    scratch = PPO("MlpPolicy", _env(TARGET_ENV), policy_kwargs={"net_arch": [64, 64]}, seed=1, **PPO_KW)
    scratch.learn(target_steps)

    def column(o):
        a = prog.policy.source_column_forward(0, torch.as_tensor(o[None], dtype=torch.float32))
        return np.clip(a.numpy()[0], -1.0, 1.0)

    res = {
        "source_steps": source_steps, "target_steps": target_steps, "episodes": episodes,
        "source_task": {
            "source_before": before,
            "finetune_after": _score(det(finetune), SOURCE_ENV, episodes, 1000),
            "progressive_source_column_after": _score(column, SOURCE_ENV, episodes, 1000),
        },
        "target_task": {
            "source_zeroshot": _score(det(source), TARGET_ENV, episodes, 2000),
            "scratch": _score(det(scratch), TARGET_ENV, episodes, 2000),
            "finetune": _score(det(finetune), TARGET_ENV, episodes, 2000),
            "progressive": _score(det(prog), TARGET_ENV, episodes, 2000),
        },
    }
    res["progressive_source_column_identical"] = (
        res["source_task"]["progressive_source_column_after"] == res["source_task"]["source_before"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="cost,forgetting")
    ap.add_argument("--steps", type=int, default=4096, help="learn() steps per cost repetition")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--source-steps", type=int, default=30_000)
    ap.add_argument("--target-steps", type=int, default=20_000)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    parts = set(args.parts.split(","))
    res = Path(args.out)
    previous = res / "progressive.json"
    # a part not run this time keeps its earlier result (each part is one self-contained comparison)
    out: dict = json.loads(previous.read_text()) if previous.is_file() else {}
    out.update({"env": SOURCE_ENV, "torch_threads": 1})
    with tempfile.TemporaryDirectory() as tmp, measured(out):  # machine and load of this invocation
        if "cost" in parts:
            out["cost"] = cost(args.steps, args.reps, Path(tmp))
        if "forgetting" in parts:
            out["forgetting"] = forgetting(args.source_steps, args.target_steps, args.episodes, Path(tmp))
    res.mkdir(parents=True, exist_ok=True)
    (res / "progressive.json").write_text(json.dumps(out, indent=2))
    render.main([])


if __name__ == "__main__":
    main()
