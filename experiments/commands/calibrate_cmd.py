"""``simtransfer calibrate DATA --env SIM_ID [--params P1,P2,...] --out DIR``.

Fit the simulator's physics, actuator and sensor parameters to logged trajectories; DIR gets ``preset.yaml``
(usable by ``train``: ``--set env.kwargs.randomization=DIR/preset.yaml``), ``calibration.json``/``.md`` and
``calibration.png``. See docs/calibration.md.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="a trajectory dataset (simtransfer collect, or converted)")
    parser.add_argument("--env", required=True, metavar="SIM_ID", help="the simulator, e.g. simtransfer/InvertedPendulum-v0")
    parser.add_argument("--params", help="comma-separated parameters (default: motor_gain, the non-root link "
                        "masses, action_latency, obs_noise)")
    parser.add_argument("--out", required=True, metavar="DIR", help="new output directory (never overwritten)")
    parser.add_argument("--horizon", type=int, default=10, help="prediction horizon in steps (default 10)")
    parser.add_argument("--max-windows", type=int, default=300, help="prediction windows used (default 300)")
    parser.add_argument("--max-delay", type=int, default=4, help="largest delay tried, in steps (default 4)")
    parser.add_argument("--budget", type=int, default=400, help="CMA-ES evaluations of the final fit (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-plot", action="store_true", help="skip calibration.png")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from simtransfer.envs.errors import SimtransferError
    from simtransfer.transfer.calibration import calibrate

    params = [p.strip() for p in args.params.split(",") if p.strip()] if args.params else None
    if params is not None and not params:
        raise SimtransferError("--params: expected a comma-separated list of parameter names")
    report = calibrate(args.data, args.env, args.out, params=params, horizon=args.horizon,
                       max_windows=args.max_windows, max_delay=args.max_delay, budget=args.budget, seed=args.seed,
                       plot=not args.no_plot)
    if args.json:
        print(json.dumps(report))
    else:
        for e in report["estimates"]:
            iv = "" if e["low"] is None else f" [{e['low']:.4g}, {e['high']:.4g}]"
            flag = "" if e["identified"] else f"  (not identified: {e['note']})"
            print(f"{e['name']}: {e['value']:.4g}{iv}{flag}", file=sys.stderr)
        print(f"wrote {args.out}/preset.yaml, calibration.json, calibration.md ({report['seconds']:.0f} s)",
              file=sys.stderr)
    return 0
