"""``simtransfer export RUN_DIR --format onnx|torchscript --out FILE``: one self-contained policy file.

The file maps the robot's raw observation to the action actually sent (normalization, adapters, history,
progressive columns, clipping/rescaling inside) and carries its metadata; see docs/deploy.md.

Examples::

    simtransfer export runs/pendulum --format onnx --out pendulum.onnx
    simtransfer export runs/pendulum --format torchscript --out pendulum.pt --check 1000
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (train or transfer)")
    parser.add_argument("--format", required=True, choices=["onnx", "torchscript"], dest="fmt",
                        help="onnx (ONNX Runtime) or torchscript (torch.jit)")
    parser.add_argument("--out", required=True, metavar="FILE", help="file to write (kept unless --force)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--check", type=int, default=0, metavar="STEPS",
                        help="after writing, compare with the framework's inference over STEPS real env steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.parity import check_parity
    from simtransfer.envs.errors import SimtransferError

    meta = export_run(args.run_dir, args.fmt, args.out, force=args.force)
    result = {"out": str(args.out), "format": args.fmt, "weights_sha256": meta["weights_sha256"],
              "observation_shape": meta["observation"]["shape"], "action": meta["action"]["space"]["type"],
              "state": [s["name"] for s in meta["state"]], "control_period": meta["control_period"]}
    if args.check:
        parity = check_parity(args.run_dir, args.out, steps=args.check)
        result["parity"] = parity
        if parity["max_abs_diff"] > 1e-5:
            raise SimtransferError(f"exported {args.out} differs from the framework by {parity['max_abs_diff']:.3g} "
                                   f"over {parity['steps']} steps (> 1e-5)")
    if args.json:
        print(json.dumps(result))
    else:
        extra = f"; parity max |diff| {result['parity']['max_abs_diff']:.2g}" if args.check else ""
        print(f"wrote {args.out} ({args.fmt}, observation {tuple(result['observation_shape'])}, "
              f"state {result['state'] or 'none'}{extra})", file=sys.stderr)
    return 0
