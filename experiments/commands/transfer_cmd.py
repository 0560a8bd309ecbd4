"""``simtransfer transfer RUN_DIR --target ENV --method METHOD``: reuse a trained policy on a target env.

Examples::

    simtransfer transfer runs/pend --target simtransfer/InvertedPendulumExtrap-v0 --method finetune --lr 1e-4
    simtransfer transfer runs/pend --target simtransfer/InvertedPendulumExtrap-v0 --method freeze --freeze pi.0
    simtransfer transfer runs/hopper --target Walker2DBulletEnv-v0 --method finetune --adapter hopper_to_walker2d
    simtransfer transfer runs/pend --target InvertedDoublePendulumBulletEnv-v0 --method l2sp \\
        --set method.alpha=0.1 --set method.adapter=invpendulum_to_invdoublependulum --timesteps 50000
    simtransfer transfer --resume runs/pend_freeze     # continue a killed transfer from its last checkpoint
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from simtransfer.envs.errors import SimtransferError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR", help="source run directory (several for chains)")
    parser.add_argument("--source", action="append", default=[], metavar="RUN_DIR",
                        help="another source run (repeatable; for chains, e.g. progressive)")
    parser.add_argument("--target", default=None, metavar="ENV",
                        help="target env: gymnasium id or package.module:callable")
    parser.add_argument("--method", default=None, metavar="METHOD",
                        help="scratch, zeroshot, finetune, freeze, features, partial, l2sp, progressive")
    parser.add_argument("--timesteps", type=int, default=None, help="training budget (default: the source's)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the source's)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run directory (default: runs/{env}__{method}__...)")
    parser.add_argument("--set", action="append", default=[], metavar="K=V", dest="sets",
                        help="config override key.sub=value, or method option method.key=value (repeatable)")
    parser.add_argument("--force", action="store_true", help="overwrite a non-empty --out directory")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue a killed transfer run from its last checkpoint (its own config, method, "
                        "options and sources; no other arguments)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the result on stdout")
    m = parser.add_argument_group("method options (shortcuts for --set method.key=value)")
    m.add_argument("--lr", type=float, default=None, dest="learning_rate", help="target learning rate")
    m.add_argument("--lr-decay", type=float, default=None, help="layer-wise learning-rate decay (finetune, l2sp)")
    m.add_argument("--freeze", action="append", default=None, dest="layers", metavar="LAYER",
                   help="layer to freeze: block (pi.0), group (trunk), glob, or depth:K (freeze; repeatable)")
    m.add_argument("--depth", type=int, default=None, help="freeze the first K blocks of every chain (freeze)")
    m.add_argument("--alpha", type=float, default=None, help="L2-SP pull toward the source weights (l2sp)")
    m.add_argument("--beta", type=float, default=None, help="L2 on new layers (l2sp)")
    m.add_argument("--key-map", action="append", default=None, metavar="SRC=DST",
                   help="rename source tensors: prefix SRC=DST, or re:REGEX=REPLACEMENT (repeatable)")
    m.add_argument("--reinit-head", action="store_true", default=None, help="re-initialise the action/value heads")
    m.add_argument("--normalization", choices=["carry", "reestimate"], default=None,
                   help="carry the source's VecNormalize statistics or re-estimate them")
    m.add_argument("--adapter", default=None, metavar="PRESET", help="space-adapter preset (see docs/transfer.md)")
    m.add_argument("--adapter-mode", choices=["index", "learned"], default=None,
                   help="index map wrapper, or a trainable projection initialised to it")
    m.add_argument("--episodes", type=int, default=None, help="evaluation episodes (zeroshot)")


_FLAG_OPTIONS = ("learning_rate", "lr_decay", "layers", "depth", "alpha", "beta", "reinit_head", "normalization",
                 "adapter", "adapter_mode", "episodes")


def _key_map(items: list[str]) -> dict[str, str] | list[tuple[str, str]]:
    regex = any(i.startswith("re:") for i in items)
    pairs = []
    for item in items:
        src, sep, dst = (item[3:] if item.startswith("re:") else item).partition("=")
        if not sep or not src:
            raise SimtransferError(f"bad --key-map '{item}': expected SRC=DST or re:REGEX=REPLACEMENT")
        pairs.append((src, dst))
    return pairs if regex else dict(pairs)


def method_options(args: argparse.Namespace, from_sets: dict[str, Any]) -> dict[str, Any]:
    """``--set method.*`` options, then the shortcut flags that were given (flags win)."""
    options = dict(from_sets)
    for name in _FLAG_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    if args.key_map:
        options["key_map"] = _key_map(args.key_map)
    return options


def run(args: argparse.Namespace) -> int:
    from simtransfer.transfer.api import resume_transfer, split_sets, transfer

    overrides, from_sets = split_sets(args.sets)
    options = method_options(args, from_sets)
    sources = list(args.runs) + list(args.source)
    if args.resume:
        given = [f for f, v in (("RUN_DIR", sources), ("--target", args.target), ("--method", args.method),
                                ("--out", args.out), ("--force", args.force), ("--timesteps", args.timesteps),
                                ("--seed", args.seed), ("--set/method options", overrides or options)) if v]
        if given:
            raise SimtransferError(f"--resume continues the run with what it recorded; drop {', '.join(given)}")
        result = resume_transfer(args.resume, quiet=args.json)
    else:
        missing = [f for f, v in (("RUN_DIR", sources), ("--target", args.target), ("--method", args.method)) if not v]
        if missing:
            raise SimtransferError(f"transfer needs {', '.join(missing)} (or --resume RUN_DIR)")
        result = transfer(sources, args.target, args.method, out_dir=args.out, timesteps=args.timesteps,
                          seed=args.seed, options=options, overrides=overrides, force=args.force, quiet=args.json)
    scores = ", ".join(f"{k} {v['mean_return']:.1f} ± {v['std_return']:.1f}" for k, v in result.final.items())
    print(f"simtransfer: transfer [{result.method}] → {result.run_dir}" + (f"; final: {scores}" if scores else ""),
          file=sys.stderr)
    if args.json:
        rep = result.report
        print(json.dumps({
            "run_dir": str(result.run_dir), "method": result.method, "final": result.final,
            "report": {"loaded": len(rep.get("loaded", [])), "new": rep.get("new", []),
                       "frozen": rep.get("frozen", []), "skipped_shape": rep.get("skipped_shape", []),
                       "normalization": rep.get("normalization")},
        }))
    return 0
