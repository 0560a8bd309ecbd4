"""Zero-shot robustness of nominal / uniform-DR / ADR / DR+history policies, and what ADR and pixels cost.

Parts (``--parts``, default all; every finished training run is cached in ``bench/results/robustness_runs.json``
so an interrupted bench resumes where it stopped):

* ``robustness`` — per task and seed, PPO (the task's ``configs/hyperparams/ppo.yaml`` entry) trained on
  nominal physics, on the uniform training distribution (the task preset), with ADR (grows the preset's ranges
  of mass, gravity, motor gain and joint damping), and on the preset with a 4-step observation-action history.
  Training episodes are cut at ``--train-episode-steps`` for all methods alike (ADR needs many episodes).
  Each policy is scored on the nominal task, the held-out ``Extrap`` split and a ``Far`` split (the same
  params with extrapolation regions 2-3x wider); the metric is return on target / return on nominal.
* ``cost`` — env steps/s with random actions, 2 DummyVecEnv envs: uniform DR vs DR + ADR wrapper + the main
  process's ADR controller reading every info; interleaved rounds, median ratio (goal: <= 5% cost).
* ``pixels`` — frames/s of ``simtransfer/InvertedPendulumPixels-v0`` (TinyRenderer, 64x64) vs the state env,
  and PPO + CnnPolicy on it for ``--pixel-timesteps`` vs a random policy.

    python bench/bench_robustness.py --seeds 5                     # writes bench/results/robustness.{md,json}
    python bench/bench_robustness.py --parts cost --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("nominal", "dr", "adr", "history")
ADR_PARAMS = ["mass", "gravity", "motor_gain", "joint_damping"]
# Far extrapolation: same params as the preset, extrapolation regions widened (valid bounds still hold).
FAR_EXTRAP = {"mass": (0.25, 3.0), "gravity": (4.0, 20.0), "motor_gain": (0.4, 2.5), "joint_damping": (0.0, 1.0)}


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _preset(task: str) -> dict[str, Any]:
    from envs.registry import preset

    return preset(task)


def train_spec(task: str, method: str, episode_steps: int, adr: dict[str, Any]) -> tuple[dict, list]:
    """(env spec, adapters) of one training method."""
    from envs.registry import env_id

    kwargs = {"max_episode_steps": episode_steps}
    if method == "nominal":
        return {"id": env_id(task, "Nominal"), "kwargs": kwargs}, []
    spec: dict[str, Any] = {"id": env_id(task), "kwargs": kwargs}
    if method == "adr":
        spec["wrappers"] = [{"type": "envs.adr:ADRRandomization", "kwargs": adr}]
    adapters = [{"type": "envs.history:HistoryObservation", "kwargs": {"k": 4}}] if method == "history" else []
    return spec, adapters


def target_specs(task: str) -> dict[str, dict[str, Any]]:
    from envs.registry import env_id

    far = _preset(task)
    far["split"] = "extrap"
    for name, (lo, hi) in FAR_EXTRAP.items():
        if name in far["params"]:
            far["params"][name].update({"extrap_low": lo, "extrap_high": hi})
    return {"nominal": {"id": env_id(task, "Nominal")}, "extrap": {"id": env_id(task, "Extrap")},
            "far": {"id": env_id(task, "Extrap"), "randomization": far}}


def adr_settings(episode_steps: int) -> dict[str, Any]:
    return {"params": ADR_PARAMS, "init": "range", "boundary_prob": 0.5, "buffer_size": 3, "delta": 0.25,
            "threshold_high": 0.95 * episode_steps, "threshold_low": 0.5 * episode_steps}


def run_one(task: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one policy and score it on every target."""
    import torch

    from agents.adr_callback import ADRCallback
    from agents.algos import build_model
    from agents.evaluation import run_episodes
    from agents.vecenv import ObsNormalizer, find_vec_normalize, make_single_env, make_training_env
    from experiments.config import algo_defaults, deep_merge, resolve_train_config

    torch.set_num_threads(1)
    adr = adr_settings(args.train_episode_steps)
    spec, adapters = train_spec(task, method, args.train_episode_steps, adr)
    raw = {"env": spec, "adapters": adapters, "algo": "ppo", "seed": seed, "total_timesteps": args.timesteps,
           "progress": False, "tracking": {"mode": "disabled"}}
    # hyperparameters: the randomized task's ppo.yaml entry, for every method alike
    cfg = resolve_train_config(deep_merge(algo_defaults("ppo", f"simtransfer/{task}-v0"), raw), source="bench",
                               use_defaults=False)
    vec_env = make_training_env(cfg)
    model = build_model("ppo", vec_env, hyperparams=cfg.hyperparams, policy=cfg.policy.model_dump(), seed=seed)
    callbacks = [ADRCallback()] if method == "adr" else []
    log_dir = args.results / "adr_progress" / f"{task}_seed{seed}"
    if method == "adr":  # keep the ranges over time: progress.csv + a plot of them
        from stable_baselines3.common.logger import configure

        model.set_logger(configure(str(log_dir), ["csv"]))
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.timesteps, callback=callbacks)
    train_s = time.perf_counter() - t0
    out: dict[str, Any] = {"task": task, "method": method, "seed": seed, "timesteps": args.timesteps,
                           "train_s": train_s, "fps": args.timesteps / train_s, "targets": {}}
    if method == "adr":
        from agents.adr_callback import plot_adr_ranges

        model.logger.close()
        plot_adr_ranges(log_dir / "progress.csv", log_dir / "adr_ranges.png")
        out["adr_ranges"] = {k: list(v) for k, v in callbacks[0].controller.state.ranges.items()}
        out["adr_updates"] = callbacks[0].controller.state.n_updates
    normalizer = ObsNormalizer.from_vec_normalize(find_vec_normalize(vec_env))
    for name, tspec in target_specs(task).items():
        env = make_single_env(tspec, adapters, seed=seed)
        returns, _ = run_episodes(env, model, episodes=args.eval_episodes, seed=10_000 + 100 * seed,
                                  normalizer=normalizer)
        env.close()
        out["targets"][name] = {"mean": float(np.mean(returns)), "returns": returns}
    vec_env.close()
    nominal = out["targets"]["nominal"]["mean"]
    for name in ("extrap", "far"):
        out[f"{name}_ratio"] = out["targets"][name]["mean"] / nominal if nominal > 0 else float("nan")
    return out


def part_robustness(args: argparse.Namespace, cache: dict[str, Any], cache_path: Path) -> dict[str, Any]:
    for task in args.tasks:
        for seed in range(args.seeds):
            for method in args.methods:
                key = f"{task}/{method}/{seed}/{args.timesteps}/{args.train_episode_steps}"
                if key in cache:
                    continue
                res = run_one(task, method, seed, args)
                cache[key] = res
                _atomic_json(cache_path, cache)
                print(f"{key}: nominal {res['targets']['nominal']['mean']:.0f}, extrap ratio "
                      f"{res['extrap_ratio']:.3f}, far ratio {res['far_ratio']:.3f} ({res['train_s']:.0f} s)",
                      flush=True)
    table: dict[str, Any] = {}
    for task in args.tasks:
        for method in args.methods:
            runs = [cache[k] for k in sorted(cache)
                    if k.startswith(f"{task}/{method}/") and k.endswith(f"/{args.timesteps}/{args.train_episode_steps}")]
            if not runs:
                continue
            row = {"seeds": len(runs)}
            for field in ("extrap_ratio", "far_ratio"):
                vals = [r[field] for r in runs]
                row[field] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}
            for t in ("nominal", "extrap", "far"):
                row[f"{t}_return"] = float(np.mean([r["targets"][t]["mean"] for r in runs]))
            row["train_fps"] = float(np.mean([r["fps"] for r in runs]))
            if method == "adr":
                row["adr_ranges"] = [r["adr_ranges"] for r in runs]
            table.setdefault(task, {})[method] = row
    return table


def _env_rate(venv: Any, steps: int, controller: Any = None) -> float:
    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(steps, venv.num_envs) + venv.action_space.shape).astype(np.float32)
    t0 = time.perf_counter()
    for a in actions:
        _, _, dones, infos = venv.step(a)
        if controller is not None:
            controller.process(infos, dones)
    return steps * venv.num_envs / (time.perf_counter() - t0)


def part_cost(args: argparse.Namespace) -> dict[str, Any]:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.adr_callback import ADRController
    from agents.vecenv import make_single_env

    out: dict[str, Any] = {}
    episode_steps = args.train_episode_steps
    for task in args.tasks:
        venvs = {}
        # thresholds no return reaches: every buffer fills and is judged, ranges stay as configured, so both
        # envs write the same number of parameters per reset (narrowed ranges would skip writes and look faster)
        adr = {**adr_settings(episode_steps), "threshold_low": -1e9, "threshold_high": 1e9}
        for method in ("dr", "adr"):
            spec, _ = train_spec(task, method, episode_steps, adr)
            venvs[method] = DummyVecEnv([lambda s=spec, i=i: make_single_env(s, [], seed=i, monitor=True)
                                         for i in range(2)])
        controller = ADRController(venvs["adr"])
        ratios, rates = [], {"dr": [], "adr": []}
        for r in range(args.rounds):
            order = ("dr", "adr") if r % 2 == 0 else ("adr", "dr")
            got = {m: _env_rate(venvs[m], args.cost_steps, controller if m == "adr" else None) for m in order}
            for m in got:
                rates[m].append(got[m])
            ratios.append(got["adr"] / got["dr"])
        for v in venvs.values():
            v.close()
        out[task] = {"dr_steps_per_s": statistics.median(rates["dr"]),
                     "adr_steps_per_s": statistics.median(rates["adr"]),
                     "adr_cost": 1.0 - statistics.median(ratios), "rounds": args.rounds,
                     "adr_updates_during_cost_run": controller.state.n_updates}
        print(f"cost {task}: DR {out[task]['dr_steps_per_s']:.0f} steps/s, ADR {out[task]['adr_steps_per_s']:.0f} "
              f"steps/s, cost {100 * out[task]['adr_cost']:.1f}%", flush=True)
    return out


def _rate(env: Any, steps: int) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def part_pixels(args: argparse.Namespace) -> dict[str, Any]:
    """Frames/s of the pixel env vs the state env, and PPO + CnnPolicy vs a random policy."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.evaluation import run_episodes
    from agents.vecenv import make_single_env
    from envs.pixels import register_pixel_envs

    torch.set_num_threads(1)
    register_pixel_envs()
    pix = gym.make("simtransfer/InvertedPendulumPixels-v0")
    state = gym.make("simtransfer/InvertedPendulum-v0")
    pix_fps, state_fps = _rate(pix, args.pixel_frames), _rate(state, 10 * args.pixel_frames)
    state.close()
    out: dict[str, Any] = {"image": list(pix.observation_space.shape), "pixel_env_frames_per_s": pix_fps,
                           "state_env_steps_per_s": state_fps, "render_slowdown_x": state_fps / pix_fps}
    pix.close()
    print(f"pixels: {pix_fps:.0f} frames/s vs state env {state_fps:.0f} steps/s", flush=True)

    class _Random:
        def __init__(self, space: Any) -> None:
            self.space = space

        def predict(self, obs: Any, **_: Any) -> tuple[Any, None]:
            return self.space.sample(), None

    ids = {"train_visuals": "simtransfer/InvertedPendulumPixels-v0",
           "heldout_visuals": "simtransfer/InvertedPendulumPixelsHeldout-v0"}
    # randomized visuals; physics per --pixel-physics (nominal: the visual problem alone)
    train_spec = {"id": ids["train_visuals"], "kwargs": {"split": args.pixel_physics}}
    venv = DummyVecEnv([lambda i=i: make_single_env(train_spec, [], seed=i, monitor=True) for i in range(2)])
    venv.seed(0)
    model = PPO("CnnPolicy", venv, n_steps=args.pixel_n_steps, batch_size=64, n_epochs=args.pixel_epochs,
                learning_rate=3e-4, gamma=0.98,
                gae_lambda=0.95, ent_coef=0.0, seed=0, device="cpu",
                policy_kwargs={"features_extractor_kwargs": {"features_dim": 256}})
    t0 = time.perf_counter()
    model.learn(args.pixel_timesteps)
    train_s = time.perf_counter() - t0
    out.update({"ppo_timesteps": args.pixel_timesteps, "ppo_train_s": train_s, "ppo_physics": args.pixel_physics,
                "ppo_n_steps": args.pixel_n_steps, "ppo_epochs": args.pixel_epochs,
                "ppo_fps": args.pixel_timesteps / train_s})
    for name, eid in ids.items():
        env = make_single_env({"id": eid, "kwargs": {"split": args.pixel_physics}}, [], seed=0)
        rand = _Random(env.action_space)
        env.action_space.seed(0)
        r_rand, _ = run_episodes(env, rand, episodes=args.eval_episodes, seed=50_000)
        r_ppo, _ = run_episodes(env, model, episodes=args.eval_episodes, seed=50_000)
        env.close()
        out[f"{name}/random_return"] = float(np.mean(r_rand))
        out[f"{name}/ppo_cnn_return"] = float(np.mean(r_ppo))
        print(f"pixels {name}: random {np.mean(r_rand):.1f}, PPO+CNN {np.mean(r_ppo):.1f}", flush=True)
    venv.close()
    return out


def write_markdown(data: dict[str, Any], path: Path) -> None:
    lines = ["# Robustness of randomization methods (bench/bench_robustness.py)", "",
             f"Machine: {data.get('machine', '?')}. Generated {data.get('time', '?')}.", ""]
    rob = data.get("robustness") or {}
    if rob:
        cfg = data.get("robustness_config", {})
        lines += ["## Zero-shot robustness (return on target / return on nominal, mean ± std over seeds)", "",
                  f"PPO, {cfg.get('timesteps')} steps per run, training episodes cut at "
                  f"{cfg.get('train_episode_steps')} steps, {cfg.get('eval_episodes')} evaluation episodes per "
                  "target (full-length episodes). `extrap`: the task's held-out extrapolation split; `far`: "
                  f"extrapolation regions widened to {FAR_EXTRAP}.", "",
                  "| task | method | seeds | nominal return | extrap return | far return | extrap ratio | "
                  "far ratio | train steps/s |", "|---|---|---|---|---|---|---|---|---|"]
        for task, rows in rob.items():
            for method, r in rows.items():
                lines.append(f"| {task} | {method} | {r['seeds']} | {r['nominal_return']:.0f} | "
                             f"{r['extrap_return']:.0f} | {r['far_return']:.0f} | "
                             f"{r['extrap_ratio']['mean']:.3f} ± {r['extrap_ratio']['std']:.3f} | "
                             f"{r['far_ratio']['mean']:.3f} ± {r['far_ratio']['std']:.3f} | {r['train_fps']:.0f} |")
        lines.append("")
    cost = data.get("cost") or {}
    if cost:
        lines += ["## Cost of ADR over uniform DR (env steps/s, random actions, 2 envs, median of rounds)", "",
                  "| task | uniform DR steps/s | ADR steps/s | ADR cost (goal <= 5%) |", "|---|---|---|---|"]
        for task, c in cost.items():
            lines.append(f"| {task} | {c['dr_steps_per_s']:.0f} | {c['adr_steps_per_s']:.0f} | "
                         f"{100 * c['adr_cost']:.1f}% |")
        lines.append("")
    pix = data.get("pixels") or {}
    if pix:
        lines += ["## Pixel observations (InvertedPendulumPixels, TinyRenderer on CPU)", ""]
        for k, v in pix.items():
            lines.append(f"- {k}: {v if not isinstance(v, float) else round(v, 3)}")
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["cost", "robustness"], choices=["robustness", "cost", "pixels"])
    ap.add_argument("--tasks", nargs="+", default=["InvertedPendulum"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--timesteps", type=int, default=40_000)
    ap.add_argument("--train-episode-steps", type=int, default=200)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cost-steps", type=int, default=5_000)
    ap.add_argument("--pixel-timesteps", type=int, default=30_000)
    ap.add_argument("--pixel-frames", type=int, default=1_000)
    ap.add_argument("--pixel-n-steps", type=int, default=256, help="PPO n_steps per env of the pixel run")
    ap.add_argument("--pixel-epochs", type=int, default=4, help="PPO epochs per update of the pixel run")
    ap.add_argument("--pixel-physics", default="nominal", choices=["nominal", "train"],
                    help="physics split of the pixel PPO run (visuals are randomized either way)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="output folder (and run cache)")
    args = ap.parse_args(argv)

    import envs  # noqa: F401  (registers simtransfer/* ids)

    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    cache_path = results / "robustness_runs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    out_json = results / "robustness.json"

    def save(section: dict[str, Any]) -> dict[str, Any]:
        # re-read first: another invocation (e.g. --parts pixels) may have written its section meanwhile
        data = json.loads(out_json.read_text()) if out_json.is_file() else {}
        data.update(section)
        data.update({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
                     "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
        _atomic_json(out_json, data)
        return data

    data = save({})
    if "cost" in args.parts:
        data = save({"cost": part_cost(args)})
    if "robustness" in args.parts:
        table = part_robustness(args, cache, cache_path)
        data = save({"robustness": table, "robustness_config": {
            "timesteps": args.timesteps, "train_episode_steps": args.train_episode_steps,
            "eval_episodes": args.eval_episodes, "seeds": args.seeds, "adr": adr_settings(args.train_episode_steps)}})
    if "pixels" in args.parts:
        data = save({"pixels": part_pixels(args)})
    write_markdown(data, results / "robustness.md")
    print(f"wrote {out_json} and {results / 'robustness.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
