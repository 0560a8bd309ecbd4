"""``simtransfer train CONFIG [--set k=v ...] [--seed N] [--out DIR] [--force] [--resume RUN_DIR]``.

``--resume RUN_DIR`` continues the run with its own config.yaml; a CONFIG, ``--set`` or ``--seed`` that
changes it is an error unless ``--allow-config-change`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simtransfer.envs.errors import SimtransferError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG",
                        help="training config YAML (optional with --resume: the run's config.yaml is used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set hyperparams.learning_rate=1e-3 (YAML value)")
    parser.add_argument("--seed", type=int, default=None, help="seed (overrides the config's seed)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="run directory (default: runs/{env}__{algo}__{seed}__{time})")
    parser.add_argument("--force", action="store_true", help="overwrite a non-empty run directory")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue an interrupted run from its latest checkpoint, with its own config.yaml")
    parser.add_argument("--allow-config-change", action="store_true",
                        help="with --resume: continue with CONFIG/--set/--seed even where they change the run's config")


def run(args: argparse.Namespace) -> int:
    from simtransfer.experiments.config import load_train_config
    from simtransfer.experiments.train import summary_line, train

    if args.resume:
        if args.out or args.force:
            raise SimtransferError("--resume continues RUN_DIR in place; it cannot be combined with --out/--force")
        run_dir = Path(args.resume)
        source = Path(args.config) if args.config else run_dir / "config.yaml"
        if not (run_dir / "config.yaml").is_file():
            raise SimtransferError(f"cannot resume {run_dir}: it has no config.yaml")
        config = None
        if args.config or args.overrides or args.seed is not None:  # compared with the run's own config by train
            config = load_train_config(source, args.overrides, seed=args.seed, use_defaults=args.config is not None)
        result = train(config, run_dir, resume=True, allow_config_change=args.allow_config_change)
    else:
        if not args.config:
            raise SimtransferError("train needs a CONFIG file (or --resume RUN_DIR)")
        if args.allow_config_change:
            raise SimtransferError("--allow-config-change only applies to --resume")
        config = load_train_config(args.config, args.overrides, seed=args.seed)
        result = train(config, args.out, force=args.force)

    if not result.already_finished:
        print(summary_line(result), file=sys.stderr, flush=True)
    return 0
