"""Zero-shot robustness of nominal / uniform-DR / ADR / DR+history policies, and what ADR and pixels cost.

Parts (``--parts``, default ``cost robustness``), rendered by ``bench/render.py``:

* ``robustness`` → ``bench/results/robustness_zero_shot.json`` — no measurement code: the experiment
  ``experiments/configs/bench/robustness.yaml`` (nominal, uniform-DR, ADR and DR+history InvertedPendulum sources
  from the shipped configs) run by the experiment runner (resumable: ``--runs`` is its cache; ``--seeds K`` runs
  its first K seeds, default 2 — the YAML's 5 with ``--seeds 5``); the bench only reads the runner's ``job.json``
  files: each source's final return on the held-out ``Extrap`` split as a fraction of its return on nominal
  physics, IQM over seeds with a bootstrap interval.

The other parts are measurement code (they time env loops, ``learn()`` and DAgger, which the runner does not
do) → ``bench/results/robustness.json``:

* ``cost`` — ADR's cost over uniform DR as interleaved rounds (alternating order), median of the per-round
  ADR/DR ratios with quartiles, a bootstrap interval and the load: env steps/s with random actions (2
  DummyVecEnv envs, the main process's ADR controller reading every info) and PPO ``learn()`` steps/s (ADR
  wrapper + ADRCallback vs the preset alone, same seed). Goal: <= 5%.
* ``pixels`` — steps/s of the state env, the 64x64 pixel env and ``simtransfer.envs.pixels.SMALL_PIXELS``; CNN students
  (``simtransfer.agents.cnn.SmallCNN`` with the edge front end) on randomized training visuals: DAgger from a privileged
  PD teacher (``--pixel-seeds``) and PPO (``--pixel-ppo-seeds``), with learning curves, scored on training and
  held-out visuals against a random policy. ``--pixel-section`` keeps a second budget next to the first.

    python bench/bench_robustness.py                               # cost + robustness (2 seeds)
    python bench/bench_robustness.py --parts robustness --seeds 5  # the YAML's full setting
    python bench/bench_robustness.py --parts cost pixels            # merges into robustness.json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
ROBUSTNESS_EXPERIMENT = ROOT / "experiments" / "configs" / "bench" / "robustness.yaml"
ADR_PARAMS = ["mass", "gravity", "motor_gain", "joint_damping"]


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _preset(task: str) -> dict[str, Any]:
    from simtransfer.envs.registry import preset

    return preset(task)


def train_spec(task: str, method: str, episode_steps: int, adr: dict[str, Any]) -> tuple[dict, list]:
    """(env spec, adapters) of one training method."""
    from simtransfer.envs.registry import env_id

    kwargs = {"max_episode_steps": episode_steps}
    if method == "nominal":
        return {"id": env_id(task, "Nominal"), "kwargs": kwargs}, []
    spec: dict[str, Any] = {"id": env_id(task), "kwargs": kwargs}
    if method == "adr":
        spec["wrappers"] = [{"type": "simtransfer.envs.adr:ADRRandomization", "kwargs": adr}]
    adapters = [{"type": "simtransfer.envs.history:HistoryObservation", "kwargs": {"k": 4}}] if method == "history" else []
    return spec, adapters


def adr_settings(episode_steps: int, thresholds: str = "absolute") -> dict[str, Any]:
    """ADR settings of the bench; ``relative``: the same fractions of the return at nominal (reference episodes
    one in five, so 70% of episodes carry ``info["adr"]`` instead of 50%)."""
    settings = {"params": ADR_PARAMS, "init": "range", "boundary_prob": 0.5, "buffer_size": 3, "delta": 0.25,
                "threshold_high": 0.95 * episode_steps, "threshold_low": 0.5 * episode_steps}
    if thresholds == "relative":
        settings.update(thresholds="relative", threshold_high=0.95, threshold_low=0.5, reference_prob=0.2)
    return settings


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


def _load() -> str:
    """The 1/5/15-minute load averages (``uptime``), next to every timing."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _spread(ratios: list[float]) -> dict[str, Any]:
    q1, med, q3 = (float(x) for x in np.percentile(ratios, [25, 50, 75]))
    return {"median": med, "q1": q1, "q3": q3, "min": float(min(ratios)), "max": float(max(ratios)),
            "values": [float(r) for r in ratios]}


def _ppo_model(task: str, method: str, episode_steps: int, adr: dict[str, Any], seed: int) -> Any:
    """PPO with the task's ppo.yaml hyperparameters on the DR or the DR + ADR training env (as in run_one)."""
    from simtransfer.agents.algos import build_model
    from simtransfer.agents.vecenv import make_training_env
    from simtransfer.experiments.config import algo_defaults, deep_merge, resolve_train_config

    spec, adapters = train_spec(task, method, episode_steps, adr)
    raw = {"env": spec, "adapters": adapters, "algo": "ppo", "seed": seed, "total_timesteps": 10_000,
           "progress": False, "tracking": {"mode": "disabled"}}
    cfg = resolve_train_config(deep_merge(algo_defaults("ppo", f"simtransfer/{task}-v0"), raw), source="bench",
                               use_defaults=False)
    return build_model("ppo", make_training_env(cfg), hyperparams=cfg.hyperparams,
                       policy=cfg.policy.model_dump(), seed=seed)


def robustness_experiment(seeds: int | None) -> Any:
    """``ROBUSTNESS_EXPERIMENT`` as the runner reads it; ``seeds``: only its first ``seeds`` seeds."""
    from simtransfer.experiments.experiment import load_experiment

    cfg = load_experiment(ROBUSTNESS_EXPERIMENT)
    if seeds is not None:
        cfg.seeds = cfg.seed_list()[:seeds]
    return cfg


def part_robustness(args: argparse.Namespace) -> dict[str, Any]:
    """Train and score the sources of ``ROBUSTNESS_EXPERIMENT`` with the experiment runner (resumable: its
    output directory is the cache), then relate each source's held-out return to its nominal return (read from
    the runner's ``job.json`` files): per-seed ratios and their IQM with a bootstrap interval."""
    from machine import measured

    from simtransfer.experiments.leaderboard import source_robustness
    from simtransfer.experiments.runner import run_experiment
    from simtransfer.transfer.stats import bootstrap_iqm

    cfg = robustness_experiment(args.seeds)
    keys = {"nominal": "InvertedPendulumNominal-v0", "heldout": ["InvertedPendulumExtrap-v0"]}
    record: dict[str, Any] = {"experiment": str(ROBUSTNESS_EXPERIMENT.relative_to(ROOT)), "keys": keys,
                              "seeds": cfg.seed_list(), "seeds_in_yaml": load_yaml_seeds(),
                              "command": "python bench/bench_robustness.py --parts robustness"
                                         + (f" --seeds {args.seeds}" if args.seeds is not None else "")}
    with measured(record):
        summary = run_experiment(cfg, args.runs, workers=args.workers)
    record["failed"] = list(summary.failed)
    rows = source_robustness(args.runs, keys["nominal"], keys["heldout"])
    record["rows"] = [vars(r) for r in rows]
    record["iqm"] = {r.source: {k: bootstrap_iqm(np.asarray(r.ratios[k], dtype=float)[~np.isnan(r.ratios[k])])
                                .to_dict() if r.defined(k) else None for k in keys["heldout"]} for r in rows}
    return record


def load_yaml_seeds() -> int:
    """How many seeds the experiment YAML itself asks for (the full setting)."""
    return len(robustness_experiment(None).seed_list())


def part_cost(args: argparse.Namespace) -> dict[str, Any]:
    """ADR's cost over uniform DR, two ways, each as interleaved rounds (alternating order) and the median of
    the per-round ratios ADR/DR, with its quartiles: (1) env steps/s with random actions (2 DummyVecEnv envs,
    the main process's ADR controller reading every info), (2) PPO ``learn()`` steps/s (ADR wrapper +
    ADRCallback vs the preset alone, same seed and hyperparameters) — what a user pays."""
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simtransfer.agents.adr_callback import ADRCallback, ADRController
    from simtransfer.agents.vecenv import make_single_env

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    episode_steps = args.train_episode_steps
    for task in args.tasks:
        load_before = _load()
        venvs = {}
        # thresholds no return reaches: every buffer fills and is judged, ranges stay as configured, so both
        # envs write the same number of parameters per reset (narrowed ranges would skip writes and look faster)
        adr = {**adr_settings(episode_steps, args.cost_thresholds), "threshold_low": -1e9, "threshold_high": 1e9}
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
        env_part = {"dr_steps_per_s": statistics.median(rates["dr"]),
                    "adr_steps_per_s": statistics.median(rates["adr"]), "adr_cost": 1.0 - statistics.median(ratios),
                    "ratio": _spread(ratios), "rounds": args.rounds, "steps_per_round": 2 * args.cost_steps,
                    "adr_updates_during_cost_run": controller.state.n_updates}
        # PPO learn(): the real ADR settings (ranges move as in training), one model per method kept across rounds
        models = {m: _ppo_model(task, m, episode_steps, adr_settings(episode_steps, args.cost_thresholds), seed=0)
                  for m in ("dr", "adr")}
        callbacks: dict[str, Any] = {"adr": ADRCallback()}
        ppo_ratios, ppo_rates = [], {"dr": [], "adr": []}
        for r in range(args.ppo_rounds):
            got = {}
            for m in (("dr", "adr") if r % 2 == 0 else ("adr", "dr")):
                cb = []
                if m == "adr":  # carry the ADR state from round to round (a fresh callback rebuilds its controller)
                    state = callbacks["adr"].state_dict() if callbacks["adr"].controller is not None else None
                    callbacks["adr"] = ADRCallback(state=state)
                    cb = [callbacks["adr"]]
                t0 = time.perf_counter()
                models[m].learn(args.ppo_cost_steps, callback=cb, reset_num_timesteps=False)
                got[m] = args.ppo_cost_steps / (time.perf_counter() - t0)
                ppo_rates[m].append(got[m])
            ppo_ratios.append(got["adr"] / got["dr"])
        ppo_part = {"dr_steps_per_s": statistics.median(ppo_rates["dr"]),
                    "adr_steps_per_s": statistics.median(ppo_rates["adr"]),
                    "adr_cost": 1.0 - statistics.median(ppo_ratios), "ratio": _spread(ppo_ratios),
                    "rounds": args.ppo_rounds, "steps_per_round": args.ppo_cost_steps,
                    "adr_updates": callbacks["adr"].controller.state.n_updates if callbacks["adr"].controller else 0}
        for model in models.values():
            model.get_env().close()
        label = task if args.cost_thresholds == "absolute" else f"{task} (relative thresholds)"
        out[label] = {"env_steps": env_part, "ppo_learn": ppo_part, "load_before": load_before,
                      "load_after": _load()}
        for name, part in (("env steps", env_part), ("PPO learn", ppo_part)):
            q = part["ratio"]
            print(f"cost {task} {name}: DR {part['dr_steps_per_s']:.0f} steps/s, ADR {part['adr_steps_per_s']:.0f} "
                  f"steps/s, cost {100 * part['adr_cost']:.1f}% (ratio IQR {q['q1']:.3f}-{q['q3']:.3f}, "
                  f"{part['rounds']} rounds)", flush=True)
        print(f"  load before {load_before}, after {out[label]['load_after']}", flush=True)
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


def pixel_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The pixel env kwargs of the PPO run (``simtransfer.envs.pixels.SMALL_PIXELS`` unless overridden)."""
    from simtransfer.envs.pixels import SMALL_PIXELS

    kw = dict(SMALL_PIXELS)
    for key, val in (("width", args.pixel_size), ("height", args.pixel_size),
                     ("action_repeat", args.pixel_action_repeat), ("distance", args.pixel_distance)):
        if val is not None:
            kw[key] = val
    if args.pixel_grayscale:
        kw["grayscale"] = True
    if args.pixel_min_contrast:
        kw["min_contrast"] = args.pixel_min_contrast
    return kw


def _pixel_speed(args: argparse.Namespace, kw: dict[str, Any]) -> dict[str, Any]:
    """Steps/s of the state env, the default 64x64 pixel env and the PPO run's pixel env, interleaved rounds."""
    import gymnasium as gym

    envs_ = {"state": gym.make("simtransfer/InvertedPendulum-v0"),
             "pixels_64": gym.make("simtransfer/InvertedPendulumPixels-v0"),
             "pixels_small": gym.make("simtransfer/InvertedPendulumPixels-v0", **kw)}
    steps = {"state": 5 * args.pixel_frames, "pixels_64": args.pixel_frames, "pixels_small": args.pixel_frames}
    rates: dict[str, list[float]] = {k: [] for k in envs_}
    for r in range(3):
        for name in (list(envs_) if r % 2 == 0 else list(reversed(envs_))):
            rates[name].append(_rate(envs_[name], steps[name]))
    for e in envs_.values():
        e.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    repeat = int(kw.get("action_repeat", 1))
    return {"state_env_steps_per_s": med["state"], "pixel64_env_frames_per_s": med["pixels_64"],
            "small_env_frames_per_s": med["pixels_small"],
            "small_env_physics_steps_per_s": repeat * med["pixels_small"],
            "state_over_pixel64_x": med["state"] / med["pixels_64"],
            "state_over_small_physics_x": med["state"] / (repeat * med["pixels_small"]), "rounds": 3}


def _pixel_ppo(args: argparse.Namespace, kw: dict[str, Any], seed: int) -> dict[str, Any]:
    """PPO + CnnPolicy(SmallCNN) on randomized training visuals, a learning curve, then train/held-out scores."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from simtransfer.agents.evaluation import run_episodes

    train_id = "simtransfer/InvertedPendulumPixels-v0"

    def make(i: int) -> Any:
        def thunk() -> gym.Env:
            env = Monitor(gym.make(train_id, split=args.pixel_physics, **kw))
            env.reset(seed=1000 * seed + i)
            env.action_space.seed(1000 * seed + i)
            return env
        return thunk

    # rewards scaled by a running return std (SB3 VecNormalize, no observation normalization: images)
    venv = VecNormalize(DummyVecEnv([make(i) for i in range(2)]), norm_obs=False, norm_reward=True, gamma=0.98)
    model = PPO("CnnPolicy", venv, n_steps=args.pixel_n_steps, batch_size=64, n_epochs=args.pixel_epochs,
                learning_rate=lambda progress: 3e-4 * progress, gamma=0.98, gae_lambda=0.95, ent_coef=0.0, clip_range=0.2, seed=seed,
                device="cpu", policy_kwargs=_student_kwargs(kw))
    curve_env = gym.make(train_id, split=args.pixel_physics, **kw)

    class Curve(BaseCallback):
        """Every ``--pixel-eval-every`` steps: deterministic return on training visuals (clock paused)."""

        def __init__(self) -> None:
            super().__init__()
            self.points: list[dict[str, float]] = []
            self.next, self.paused = args.pixel_eval_every, 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += args.pixel_eval_every
                t0 = time.perf_counter()
                returns, _ = run_episodes(curve_env, self.model, episodes=args.pixel_curve_episodes, seed=60_000)
                self.paused += time.perf_counter() - t0
                self.points.append({"timesteps": self.num_timesteps, "return": float(np.mean(returns))})
                print(f"  pixels seed {seed} @ {self.num_timesteps}: return {np.mean(returns):.0f}", flush=True)
            return True

    curve = Curve()
    t0 = time.perf_counter()
    model.learn(args.pixel_timesteps, callback=curve)
    train_s = time.perf_counter() - t0 - curve.paused
    curve_env.close()
    venv.close()
    out: dict[str, Any] = {"method": "ppo", "seed": seed, "train_s": train_s, "budget": args.pixel_timesteps,
                           "steps_per_s": args.pixel_timesteps / train_s, "curve": curve.points}
    out.update(_score(args, kw, model))
    return out


def _student_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """CnnPolicy kwargs: SmallCNN with the colour-agnostic edge front end, 64 features, one 64-unit layer."""
    from simtransfer.agents.cnn import SmallCNN

    return {"features_extractor_class": SmallCNN, "net_arch": [64],
            "features_extractor_kwargs": {"features_dim": 64, "edges": True,
                                          "frame_channels": 1 if kw.get("grayscale") else 3}}


def _score(args: argparse.Namespace, kw: dict[str, Any], model: Any) -> dict[str, Any]:
    """Mean return of ``model`` on training and held-out visuals (full episodes, deterministic)."""
    import gymnasium as gym

    from simtransfer.agents.evaluation import run_episodes

    out = {}
    for name, eid in (("train_visuals", "simtransfer/InvertedPendulumPixels-v0"),
                      ("heldout_visuals", "simtransfer/InvertedPendulumPixelsHeldout-v0")):
        env = gym.make(eid, split=args.pixel_physics, **kw)
        returns, _ = run_episodes(env, model, episodes=args.eval_episodes, seed=50_000)
        env.close()
        out[name] = {"mean": float(np.mean(returns)), "returns": returns}
    return out


def _pixel_dagger(args: argparse.Namespace, kw: dict[str, Any], seed: int) -> dict[str, Any]:
    """DAgger: a PD teacher on the privileged state labels the images; the CNN student regresses its action."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    from simtransfer.agents.distill import dagger, pendulum_pd_teacher
    from simtransfer.agents.evaluation import run_episodes

    train_id = "simtransfer/InvertedPendulumPixels-v0"
    # short collection episodes: every reset draws new visuals, so more of them per labelled frame
    env = gym.make(train_id, split=args.pixel_physics, max_episode_steps=args.pixel_collect_episode_steps, **kw)
    student = PPO("CnnPolicy", env, seed=seed, device="cpu", policy_kwargs=_student_kwargs(kw))
    curve_env = gym.make(train_id, split=args.pixel_physics, **kw)
    points: list[dict[str, float]] = []
    paused = [0.0]

    def on_iteration(rec: dict[str, Any]) -> None:
        if (rec["iteration"] + 1) % args.pixel_dagger_eval_every == 0:
            t0 = time.perf_counter()
            returns, _ = run_episodes(curve_env, student, episodes=args.pixel_curve_episodes, seed=60_000)
            paused[0] += time.perf_counter() - t0
            points.append({"timesteps": rec["steps"], "return": float(np.mean(returns)), "loss": rec["loss"]})
            print(f"  dagger seed {seed} @ {rec['steps']} labelled frames: loss {rec['loss']:.4f}, return "
                  f"{np.mean(returns):.0f}", flush=True)

    t0 = time.perf_counter()
    history = dagger(student, env, pendulum_pd_teacher, iterations=args.pixel_dagger_iterations,
                     steps_per_iteration=args.pixel_dagger_steps, epochs=args.pixel_dagger_epochs, seed=seed,
                     callback=on_iteration)
    train_s = time.perf_counter() - t0 - paused[0]
    env.close()
    curve_env.close()
    frames = history[-1]["steps"]
    out: dict[str, Any] = {"method": "dagger", "seed": seed, "train_s": train_s, "budget": frames,
                           "steps_per_s": frames / train_s, "curve": points}
    out.update(_score(args, kw, student))
    return out


def part_pixels(args: argparse.Namespace) -> dict[str, Any]:
    """Frames/s of the pixel envs vs the state env; PPO + SmallCNN vs a random policy, training and held-out
    visuals (colours never seen), over ``--pixel-seeds`` seeds."""
    import gymnasium as gym
    import torch

    from simtransfer.agents.evaluation import RandomPolicy, run_episodes
    from simtransfer.envs.pixels import register_pixel_envs

    torch.set_num_threads(1)
    register_pixel_envs()
    kw = pixel_kwargs(args)
    out: dict[str, Any] = {"env_kwargs": kw, "load_before": _load(), "speed": _pixel_speed(args, kw)}
    sp = out["speed"]
    print(f"pixels: state env {sp['state_env_steps_per_s']:.0f} steps/s, 64x64 pixels "
          f"{sp['pixel64_env_frames_per_s']:.0f} frames/s, PPO env {sp['small_env_frames_per_s']:.0f} frames/s",
          flush=True)
    random: dict[str, Any] = {}
    for name, eid in (("train_visuals", "simtransfer/InvertedPendulumPixels-v0"),
                      ("heldout_visuals", "simtransfer/InvertedPendulumPixelsHeldout-v0")):
        env = gym.make(eid, split=args.pixel_physics, **kw)
        returns, _ = run_episodes(env, RandomPolicy(env.action_space, seed=0), episodes=args.eval_episodes,
                                  seed=50_000)
        env.close()
        random[name] = {"mean": float(np.mean(returns)), "returns": returns}
    out["random"] = random
    out["config"] = {"physics": args.pixel_physics, "eval_episodes": args.eval_episodes,
                     "extractor": "simtransfer.agents.cnn:SmallCNN(features_dim=64, edges=True)",
                     "ppo": {"timesteps": args.pixel_timesteps, "n_steps": args.pixel_n_steps,
                             "epochs": args.pixel_epochs, "seeds": args.pixel_ppo_seeds},
                     "dagger": {"iterations": args.pixel_dagger_iterations, "steps": args.pixel_dagger_steps,
                                "epochs": args.pixel_dagger_epochs, "seeds": args.pixel_seeds,
                                "collect_episode_steps": args.pixel_collect_episode_steps,
                                "teacher": "simtransfer.agents.distill:pendulum_pd_teacher"}}
    out["runs"] = []
    jobs = [("dagger", s) for s in range(args.pixel_seeds)] + [("ppo", s) for s in range(args.pixel_ppo_seeds)]
    for method, seed in jobs:
        run = (_pixel_dagger if method == "dagger" else _pixel_ppo)(args, kw, seed)
        out["runs"].append(run)
        print(f"pixels {method} seed {seed}: {run['steps_per_s']:.0f} steps/s, train visuals "
              f"{run['train_visuals']['mean']:.0f}, held-out {run['heldout_visuals']['mean']:.0f} (random "
              f"{random['train_visuals']['mean']:.0f} / {random['heldout_visuals']['mean']:.0f})", flush=True)
    out["load_after"] = _load()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["cost", "robustness"], choices=["robustness", "cost", "pixels"])
    ap.add_argument("--tasks", nargs="+", default=["InvertedPendulum"])
    ap.add_argument("--train-episode-steps", type=int, default=200)
    ap.add_argument("--eval-episodes", type=int, default=10)
    # short alternating rounds: load drifts slowly, so many short rounds give a tighter median ratio
    ap.add_argument("--rounds", type=int, default=60, help="interleaved rounds of the env-steps cost measure")
    ap.add_argument("--cost-steps", type=int, default=500, help="steps per env and round of the cost measure")
    ap.add_argument("--cost-thresholds", default="absolute", choices=["absolute", "relative"],
                    help="ADR threshold mode of the cost measure (relative: envs.adr_state's reference episodes)")
    ap.add_argument("--ppo-rounds", type=int, default=24, help="interleaved rounds of the PPO learn() cost measure")
    ap.add_argument("--ppo-cost-steps", type=int, default=1_024, help="PPO steps per method and round")
    ap.add_argument("--pixel-timesteps", type=int, default=30_000, help="PPO steps (agent steps) per pixel run")
    ap.add_argument("--pixel-seeds", type=int, default=2, help="seeds of the DAgger student")
    ap.add_argument("--pixel-ppo-seeds", type=int, default=1, help="seeds of PPO from pixels")
    ap.add_argument("--pixel-dagger-iterations", type=int, default=10)
    ap.add_argument("--pixel-dagger-steps", type=int, default=2_000, help="labelled frames per DAgger iteration")
    ap.add_argument("--pixel-dagger-epochs", type=int, default=3, help="epochs over all labels per iteration")
    ap.add_argument("--pixel-dagger-eval-every", type=int, default=2, help="learning-curve interval (iterations)")
    ap.add_argument("--pixel-collect-episode-steps", type=int, default=100,
                    help="episode cap of the DAgger collection env (more visual draws per frame)")
    ap.add_argument("--pixel-eval-every", type=int, default=10_000, help="learning-curve interval (steps)")
    ap.add_argument("--pixel-curve-episodes", type=int, default=3)
    ap.add_argument("--pixel-frames", type=int, default=1_000, help="steps per speed measurement of a pixel env")
    ap.add_argument("--pixel-section", default="pixels", help="result section of the pixel part (pixels*), e.g. "
                    "pixels_long for a second budget kept next to the default one")
    ap.add_argument("--pixel-size", type=int, default=None, help="image width = height (default: SMALL_PIXELS)")
    ap.add_argument("--pixel-action-repeat", type=int, default=None)
    ap.add_argument("--pixel-distance", type=float, default=None, help="camera distance (m)")
    ap.add_argument("--pixel-grayscale", action="store_true")
    ap.add_argument("--pixel-min-contrast", type=float, default=0.0,
                    help="luma gap kept between robot and scenery colours (envs.pixels.PixelObservation)")
    ap.add_argument("--pixel-n-steps", type=int, default=256, help="PPO n_steps per env of the pixel run")
    ap.add_argument("--pixel-epochs", type=int, default=10, help="PPO epochs per update of the pixel run")
    ap.add_argument("--pixel-physics", default="nominal", choices=["nominal", "train"],
                    help="physics split of the pixel PPO run (visuals are randomized either way)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    ap.add_argument("--runs", type=Path, default=ROOT / "results" / "bench" / "robustness",
                    help="the robustness experiment's output directory (resumable)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel jobs of the robustness part")
    ap.add_argument("--seeds", type=int, default=2, help="first K seeds of the robustness experiment (its YAML: 5)")
    args = ap.parse_args(argv)

    from simtransfer import envs  # noqa: F401  (registers simtransfer/* ids)

    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    out_json = results / "robustness.json"

    def save(section: dict[str, Any]) -> dict[str, Any]:
        # re-read first: another invocation (e.g. --parts pixels) may have written its section meanwhile
        data = json.loads(out_json.read_text()) if out_json.is_file() else {}
        data.update(section)
        data.update({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
                     "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
        _atomic_json(out_json, data)
        return data

    data = json.loads(out_json.read_text()) if out_json.is_file() else {}
    if "cost" in args.parts:  # merged per task (and threshold mode) into the earlier cost results
        data = save({"cost": {**(data.get("cost") or {}), **part_cost(args)}})
    if "robustness" in args.parts:
        _atomic_json(results / "robustness_zero_shot.json", part_robustness(args))
    if "pixels" in args.parts:
        data = save({args.pixel_section: part_pixels(args)})
    render.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
