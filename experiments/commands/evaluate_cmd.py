"""``simtransfer evaluate RUN_DIR --target ENV [--episodes N] [--seed N] [--json] [--video DIR]``, plus the
meta-test adaptation curve (``--trial-episodes K``), the worst-case search
(``--worst-case [--budget N] [--ranges FILE|SPLIT]``) and observation attacks
(``--attack fgsm|pgd|uniform --epsilon E [--attack-steps N]``): docs/worst_case.md."""

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
    worst = parser.add_argument_group("worst case (docs/worst_case.md)")
    worst.add_argument("--worst-case", action="store_true",
                       help="search the target's parameters (CMA-ES) for the lowest return; --episodes per vector")
    worst.add_argument("--budget", type=int, default=None, metavar="N",
                       help="evaluations (parameter vectors) the search may spend (default 100)")
    worst.add_argument("--ranges", default=None, metavar="FILE|SPLIT",
                       help="where to search: train (default: the training ranges), interp, extrap, or a YAML "
                            "file 'name: [low, high]' (parameters left out stay nominal)")
    worst.add_argument("--search-seed", type=int, default=0, help="seed of the CMA-ES search (default 0)")
    worst.add_argument("--attack", choices=("fgsm", "pgd", "uniform"), default=None,
                       help="perturb every observation: FGSM/PGD on the policy's action distribution, or "
                            "uniform noise of the same bound")
    worst.add_argument("--epsilon", type=float, default=None, metavar="E",
                       help="L-inf bound of --attack, in the units the network sees (after VecNormalize)")
    worst.add_argument("--attack-steps", type=int, default=10, metavar="N", help="PGD iterations (default 10)")
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


def _check_modes(args: argparse.Namespace) -> None:
    from simtransfer.envs.errors import SimtransferError

    if args.worst_case and args.attack:
        raise SimtransferError("--worst-case and --attack are separate evaluations; pick one")
    if (args.budget is not None or args.ranges is not None) and not args.worst_case:
        raise SimtransferError("--budget and --ranges belong to --worst-case")
    if args.attack and args.epsilon is None:
        raise SimtransferError("--attack needs --epsilon (the L-inf bound, > 0)")
    if args.epsilon is not None and not args.attack:
        raise SimtransferError("--epsilon belongs to --attack")


def _worst_case(args: argparse.Namespace, target) -> int:
    from simtransfer.agents.worst_case import search_worst_case

    with stdout_to_stderr():
        res = search_worst_case(args.run_dir, target, ranges=args.ranges,
                                budget=100 if args.budget is None else args.budget, episodes=args.episodes,
                                seed=args.seed, search_seed=args.search_seed)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), **res.to_dict()}))
    else:
        params = ", ".join(f"{k}={v:.4g}" for k, v in res.worst_params.items() if k in res.ranges)
        print(f"{res.target}: worst return {res.worst_return:.2f} (CVaR-10% {res.worst_cvar_10:.2f}) after "
              f"{res.evaluations} evaluations of {res.episodes} episodes at {params}", file=sys.stderr)
    return 0


def _attack(args: argparse.Namespace, target) -> int:
    from simtransfer.agents.obs_attack import evaluate_attack

    with stdout_to_stderr():
        res = evaluate_attack(args.run_dir, target, args.attack, args.epsilon, steps=args.attack_steps,
                              episodes=args.episodes, seed=args.seed)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "seed": args.seed, "attack": args.attack,
                          "epsilon": args.epsilon, "attack_steps": args.attack_steps, **res.to_dict()}))
    else:
        print(f"{res.target} under {args.attack} (epsilon {args.epsilon:g}): {res.mean_return:.2f} ± "
              f"{res.std_return:.2f}, CVaR-10% {res.cvar_10:.2f} over {res.episodes} episodes", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from simtransfer.experiments.evaluate import evaluate_run

    _check_modes(args)
    target = args.target
    if target.endswith((".yaml", ".yml")) and Path(target).is_file():
        target = load_yaml(target)
    if args.worst_case:
        return _worst_case(args, target)
    if args.attack:
        return _attack(args, target)
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
        print(f"{res.target}: {res.mean_return:.2f} ± {res.std_return:.2f}, CVaR-10% {res.cvar_10:.2f} over "
              f"{res.episodes} episodes (seed {args.seed})", file=sys.stderr)
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
