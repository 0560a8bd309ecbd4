"""``simtransfer collect RUN|random|scripted --target ENV --episodes N --out DATA [--seed N] [--from-arrays FILE]``.

Roll out a run (or random actions, or a smooth scripted excitation) on a target and log the trajectories
(a Minari dataset; docs/calibration.md). ``--from-arrays`` converts a plain npz/CSV log written by something
else instead (POLICY is then ignored; ``--target`` names the env it was logged on).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy", metavar="RUN|random|scripted",
                        help="a finished run directory, 'random' or 'scripted' (smooth random excitation)")
    parser.add_argument("--target", required=True, metavar="ENV", help="env id to collect on")
    parser.add_argument("--episodes", type=int, default=10, help="episodes to log (default 10)")
    parser.add_argument("--out", required=True, metavar="DATA", help="new dataset directory (never overwritten)")
    parser.add_argument("--seed", type=int, default=0, help="episode i resets with seed+i (default 0)")
    parser.add_argument("--max-steps", type=int, default=None, help="cut episodes after this many steps")
    parser.add_argument("--from-arrays", metavar="FILE", help="convert a plain .npz/.csv of arrays instead")
    parser.add_argument("--control-period", type=float, default=None,
                        help="seconds per control step of a --from-arrays log")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from simtransfer.agents.collect import collect
    from simtransfer.agents.trajectories import convert_arrays

    if args.from_arrays:
        data = convert_arrays(args.from_arrays, args.out, env_id=args.target, control_period=args.control_period)
    else:
        data = collect(args.policy, args.target, args.out, episodes=args.episodes, seed=args.seed,
                       max_steps=args.max_steps)
    lengths = [len(e) for e in data.episodes]
    summary = {"out": str(args.out), "env_id": data.env_id, "episodes": len(lengths), "steps": sum(lengths)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.out}: {len(lengths)} episodes, {sum(lengths)} steps on {data.env_id}", file=sys.stderr)
    return 0
