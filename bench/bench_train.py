"""Benchmark the training pipeline; writes bench/results/train.json (``bench/render.py`` renders train.md).

Parts (``--parts``, default all):
- ``throughput``: env-steps/s of ``simtransfer train`` (our callbacks, progress, checkpoints, W&B offline) vs a
  plain SB3 script with the same env, VecNormalize and hyperparameters, interleaved repetitions in one run.
  Periodic evaluation is off on both sides (``eval.every=0``); the final evaluation happens after ``learn`` and
  is not timed. Both sides time ``model.learn`` only.
- ``learning``: PPO on ``simtransfer/InvertedPendulum-v0`` (shipped ``inverted_pendulum.yaml``), eval every 5k
  steps (10 episodes); first step with mean eval return >= 950, per seed (training stops there: eval.stop_at).
- ``resume``: ``simtransfer train`` in a subprocess, SIGKILL mid-run, ``--resume``; steps lost vs the interval.

    python bench/bench_train.py                       # everything (~10 min on 2 busy cores)
    python bench/bench_train.py --parts throughput --steps 10000 --reps 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import render  # noqa: E402
from machine import measured  # noqa: E402

os.environ.setdefault("WANDB_SILENT", "true")

ENV = "simtransfer/InvertedPendulum-v0"
CONFIG = ROOT / "experiments" / "configs" / "inverted_pendulum.yaml"


def _ours(steps: int, seed: int, out: Path, tracking: str = "offline") -> tuple[float, float]:
    from simtransfer.experiments.config import load_train_config
    from simtransfer.experiments.train import train

    cfg = load_train_config(CONFIG, [f"total_timesteps={steps}", "eval.every=0", "eval.episodes=1",
                                     "eval.targets=[]", f"checkpoint_every={max(steps // 4, 1)}", "progress=true",
                                     f"tracking.mode={tracking}"], seed=seed)
    res = train(cfg, out, force=True)
    return steps / (res.learn_time_s - res.eval_time_s), steps / res.learn_cpu_s


def _plain(steps: int, seed: int) -> tuple[float, float]:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from simtransfer import envs  # noqa: F401  (registers simtransfer ids)
    from simtransfer.agents.algos import policy_kwargs_from_config, resolve_hyperparams
    from simtransfer.experiments.config import load_train_config

    cfg = load_train_config(CONFIG, seed=seed)
    torch.set_num_threads(cfg.torch_threads or 1)
    venv = DummyVecEnv([lambda: Monitor(gym.make(ENV)) for _ in range(cfg.n_envs)])
    venv.seed(seed)
    venv = VecNormalize(venv, gamma=float(cfg.hyperparams.get("gamma", 0.99)))
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", policy_kwargs=policy_kwargs_from_config(
        cfg.policy.model_dump()), **resolve_hyperparams(cfg.hyperparams))
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(steps)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    venv.close()
    return steps / dt, steps / dc


def throughput(steps: int, reps: int, tmp: Path) -> dict:
    ours, plain, ours_cpu, plain_cpu, nowb = [], [], [], [], []
    for r in range(reps):  # interleaved, alternating which side goes first
        order = ("plain", "ours") if r % 2 == 0 else ("ours", "plain")
        for side in order:
            if side == "plain":
                w, c = _plain(steps, seed=r)
                plain.append(w)
                plain_cpu.append(c)
            else:
                w, c = _ours(steps, seed=r, out=tmp / f"tp{r}")
                ours.append(w)
                ours_cpu.append(c)
        nowb.append(_ours(steps, seed=r, out=tmp / f"nowb{r}", tracking="disabled")[1])
        print(f"  rep {r}: plain {plain[-1]:.0f} steps/s ({plain_cpu[-1]:.0f} per CPU-s), simtransfer {ours[-1]:.0f} "
              f"steps/s ({ours_cpu[-1]:.0f} per CPU-s), W&B disabled {nowb[-1]:.0f} per CPU-s", flush=True)
    ratios = [o / p for o, p in zip(ours, plain)]
    cpu_ratios = [o / p for o, p in zip(ours_cpu, plain_cpu)]
    return {"env": ENV, "steps": steps, "reps": reps, "plain_fps": plain, "ours_fps": ours,
            "plain_steps_per_cpu_s": plain_cpu, "ours_steps_per_cpu_s": ours_cpu,
            "ratio_per_rep": ratios, "ratio_median": statistics.median(ratios),
            "cpu_ratio_per_rep": cpu_ratios, "cpu_ratio_median": statistics.median(cpu_ratios),
            "cpu_ratio_of_medians": statistics.median(ours_cpu) / statistics.median(plain_cpu),
            "wandb_disabled_steps_per_cpu_s": nowb,
            "wandb_disabled_cpu_ratio_median": statistics.median(n / p for n, p in zip(nowb, plain_cpu)),
            "note": "eval off (eval.every=0), both sides time model.learn only; ours includes callbacks, "
                    "progress, 4 atomic checkpoints and W&B offline logging. Steps per CPU-second of the "
                    "training process is the comparison that survives other load on the machine"}


def overhead(n: int = 200_000) -> dict:
    """Per-step CPU cost of the pipeline's callbacks (no work due) and of the EpisodeParams wrapper."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.logger import configure

    from simtransfer import envs  # noqa: F401
    from simtransfer.agents.algos import build_model
    from simtransfer.agents.callbacks import (
        ParamsCallback,
        ProgressCallback,
        SafetensorsCheckpointCallback,
        TargetEvalCallback,
    )
    from simtransfer.agents.vecenv import EpisodeParams, make_training_env
    from simtransfer.experiments.config import load_train_config

    cfg = load_train_config(CONFIG, ["tracking.mode=disabled"])
    venv = make_training_env(cfg)
    model = build_model("ppo", venv, hyperparams=cfg.hyperparams, policy=cfg.policy.model_dump(), seed=0)
    model.set_logger(configure(None, []))
    cbs = CallbackList([ParamsCallback(), TargetEvalCallback({}, every=10**9, episodes=1, seed=0),
                        SafetensorsCheckpointCallback(lambda m: None, 10**9), ProgressCallback(10**9, lambda: {})])
    cbs.init_callback(model)
    cbs.on_training_start(locals_={}, globals_={})
    cbs.update_locals({"dones": np.zeros(cfg.n_envs, dtype=bool), "infos": [{}] * cfg.n_envs})
    t = time.process_time()
    for _ in range(n):
        cbs.on_step()
    per_vec_step = (time.process_time() - t) / n * 1e6
    venv.close()

    def env_step_us(env: gym.Env, k: int = 20_000) -> float:
        env.reset(seed=0)
        a = env.action_space.sample() * 0
        t0 = time.process_time()
        for _ in range(k):
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return (time.process_time() - t0) / k * 1e6

    base = min(env_step_us(gym.make(ENV)) for _ in range(3))
    wrapped = min(env_step_us(EpisodeParams(gym.make(ENV))) for _ in range(3))
    return {"callbacks_us_per_vec_step": round(per_vec_step, 2), "n_envs": cfg.n_envs,
            "env_step_us": round(base, 1), "env_step_with_episode_params_us": round(wrapped, 1)}


def _learn_one(seed: int, steps: int, tmp: str) -> dict:
    from simtransfer.experiments.config import load_train_config
    from simtransfer.experiments.train import train

    cfg = load_train_config(CONFIG, [f"total_timesteps={steps}", "eval.every=5000", "eval.episodes=10",
                                     "eval.targets=[]", "tracking.mode=disabled", "checkpoint_every=0",
                                     "eval.stop_at=950", "progress=false"], seed=seed)
    res = train(cfg, Path(tmp) / f"learn{seed}", force=True)
    curve = res.curves["train"]
    first = next((t for t, m in zip(curve["timesteps"], curve["mean_return"]) if m >= 950), None)
    return {"first_step_ge_950": first, "stopped_early": res.stopped_early,
            "final_mean_return": res.final["train"].mean_return,
            "curve": dict(zip(curve["timesteps"], [round(m, 1) for m in curve["mean_return"]])),
            "wall_time_s": round(res.wall_time_s, 1)}


def learning(seeds: list[int], steps: int, tmp: Path, jobs: int = 1) -> dict:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out = {"env": ENV, "config": str(CONFIG.relative_to(ROOT)), "steps": steps, "threshold": 950, "seeds": {}}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {seed: pool.submit(_learn_one, seed, steps, str(tmp)) for seed in seeds}
        for seed, fut in futures.items():
            out["seeds"][seed] = r = fut.result()
            print(f"  seed {seed}: first >=950 at {r['first_step_ge_950']}, final {r['final_mean_return']:.1f}",
                  flush=True)
    out["solved"] = sum(1 for s in out["seeds"].values() if s["first_step_ge_950"] is not None)
    return out


def _last_logged_step(run: Path) -> int:
    p = run / "progress.csv"
    if not p.is_file():
        return 0
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2 or "time/total_timesteps" not in rows[0]:
        return 0
    i = rows[0].index("time/total_timesteps")
    return max((int(float(r[i])) for r in rows[1:] if len(r) > i and r[i]), default=0)


def resume(tmp: Path, every: int = 1024, timeout_s: float = 600.0) -> dict:
    """Kill -9 half-way between two checkpoints (after the first one), resume, count the steps lost."""
    from simtransfer.agents.checkpoint import latest_checkpoint

    run = tmp / "crash"
    cmd = [sys.executable, "-m", "simtransfer.experiments.cli", "train", str(CONFIG), "--out", str(run), "--force",
           "--set", "total_timesteps=100000", "--set", f"checkpoint_every={every}", "--set", "eval.every=0",
           "--set", "eval.targets=[]", "--set", "eval.episodes=2", "--set", "tracking.mode=disabled"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s and proc.poll() is None:
        ckpt = latest_checkpoint(run / "checkpoints")
        step = int(ckpt.stem.split("_")[1]) if ckpt else None
        if step is not None and _last_logged_step(run) >= step + every // 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = time.perf_counter() - t0
    last_logged = _last_logged_step(run)
    ckpt = latest_checkpoint(run / "checkpoints")
    ckpt_step = int(ckpt.stem.split("_")[1]) if ckpt else 0
    t1 = time.perf_counter()
    rc = subprocess.run([sys.executable, "-m", "simtransfer.experiments.cli", "train", "--resume", str(run), "--set",
                         f"total_timesteps={ckpt_step + every}"], cwd=ROOT, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    meta = json.loads((run / "metadata.json").read_text()) if rc.returncode == 0 else {}
    return {"checkpoint_every": every, "killed_after_s": round(killed_after, 1),
            "last_logged_step_before_kill": last_logged, "checkpoint_step": ckpt_step,
            "lost_steps_at_least": max(last_logged - ckpt_step, 0),
            "lost_within_one_interval": last_logged - ckpt_step <= every, "resume_exit_code": rc.returncode,
            "resume_error": rc.stderr.strip().splitlines()[-1:] if rc.returncode else [],
            "resumed_from": ckpt_step, "resumed_to": meta.get("num_timesteps"),
            "resume_wall_s": round(time.perf_counter() - t1, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["overhead", "throughput", "learning", "resume"],
                    choices=["overhead", "throughput", "learning", "resume"])
    ap.add_argument("--steps", type=int, default=20_000, help="steps per throughput run")
    ap.add_argument("--reps", type=int, default=3, help="interleaved throughput repetitions")
    ap.add_argument("--learn-steps", type=int, default=60_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=3, help="learning seeds run in parallel processes")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    out = Path(args.results)
    previous = out / "train.json"
    # parts not run this time keep their earlier results (the table always shows every part)
    results: dict = json.loads(previous.read_text()) if previous.is_file() else {}
    with tempfile.TemporaryDirectory() as d, measured(results):  # machine and load of this invocation
        tmp = Path(d)
        if "overhead" in args.parts:
            print("overhead:", flush=True)
            results["overhead"] = overhead()
        if "throughput" in args.parts:
            print("throughput:", flush=True)
            results["throughput"] = throughput(args.steps, args.reps, tmp)
        if "learning" in args.parts:
            print("learning:", flush=True)
            results["learning"] = learning(args.seeds, args.learn_steps, tmp, args.jobs)
        if "resume" in args.parts:
            print("resume:", flush=True)
            results["resume"] = resume(tmp)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps(results, indent=2) + "\n")
    render.main([])


if __name__ == "__main__":
    main()
