"""``simtransfer evaluate RUN_DIR --target ENV [--episodes N] [--seed N] [--json] [--video DIR]
[--trial-episodes K]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from simtransfer.envs.yaml_io import load_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished training run directory")
    parser.add_argument("--target", required=True, metavar="ENV",
                        help="gymnasium id, 'package.module:callable', or a YAML file holding an env spec")
    parser.add_argument("--episodes", type=int, default=10, help="episodes to run (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="episode i resets with seed+i (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--video", default=None, metavar="DIR",
                        help="also record one episode as DIR/<target>.mp4 and a frame strip DIR/<target>.png")
    parser.add_argument("--trial-episodes", type=int, default=None, metavar="K",
                        help="meta-test: --episodes trials of K episodes of one sampled target each; reports the "
                             "return per episode index of the trial (the adaptation curve, agents/meta.py)")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send fd 1 to stderr meanwhile (pybullet prints its build time on stdout at import; --json must be clean)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    from simtransfer.experiments.evaluate import evaluate_run

    target = args.target
    if target.endswith((".yaml", ".yml")) and Path(target).is_file():
        target = load_yaml(target)
    if args.trial_episodes is not None:
        return _adaptation(args, target)
    with stdout_to_stderr():
        res = evaluate_run(args.run_dir, target, episodes=args.episodes, seed=args.seed)
        video = None
        if args.video:
            from simtransfer.agents.policy_io import load_policy
            from simtransfer.experiments.video import record_episode

            video = record_episode(load_policy(args.run_dir), target, args.video, seed=args.seed)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "seed": args.seed, **res.to_dict(),
                          **({"video": video} if video else {})}))
    else:
        print(f"{res.target}: {res.mean_return:.2f} ± {res.std_return:.2f} over {res.episodes} episodes "
              f"(seed {args.seed})", file=sys.stderr)
    return 0


def _adaptation(args: argparse.Namespace, target: object) -> int:
    """``--trial-episodes K``: the adaptation curve (agents/meta.py) instead of per-episode returns."""
    from simtransfer.agents.meta import adaptation_curve

    with stdout_to_stderr():
        curve = adaptation_curve(args.run_dir, target, episodes=args.trial_episodes, trials=args.episodes,
                                 seed=args.seed)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "seed": args.seed, **curve.to_dict()}))
    else:
        means = ", ".join(f"{m:.2f}" for m in curve.mean_per_episode)
        print(f"{curve.target}: mean return per trial episode 1..{curve.trial_episodes}: {means} "
              f"({curve.trials} trials, {'RL2, memory across episodes' if curve.meta else 'no memory across episodes'}"
              f", seed {args.seed})", file=sys.stderr)
    return 0
