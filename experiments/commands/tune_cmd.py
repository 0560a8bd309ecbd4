"""``simtransfer tune EXPERIMENT.yaml --method M --param NAME=LOW:HIGH[:log] ... --trials N --out DIR``.

Optuna (TPE, seeded) over a transfer method's options; each trial runs through the experiment runner and is
scored by the report's IQM of ``--metric`` on ``--target``. Resumable: the same command continues the study in
DIR (``optuna.journal``, ``tune.json``, ``runs/``). See :mod:`simtransfer.experiments.tuning` and docs/zoo.md.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment YAML (its sources, targets, budget and seeds are used)")
    parser.add_argument("--method", required=True, help="the transfer method whose options are tuned (finetune, ...)")
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
                        help="an option to search: NAME=LOW:HIGH (uniform), NAME=LOW:HIGH:log, NAME=LOW:HIGH:int, "
                             "or NAME=A,B,C (choices); lr means learning_rate (repeatable)")
    parser.add_argument("--option", dest="options", action="append", default=[], metavar="NAME=VALUE",
                        help="a fixed option of every trial (YAML value; repeatable)")
    parser.add_argument("--trials", type=int, required=True, help="complete trials wanted (a re-run continues)")
    parser.add_argument("--out", required=True, metavar="DIR", help="study directory (journal, summary, runs)")
    parser.add_argument("--target", default=None, help="target name to score (required if the experiment has several)")
    parser.add_argument("--metric", default="asymptotic",
                        help="report metric to maximise: asymptotic (final return, default), transfer_ratio, ...")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per trial (default: the experiment's)")
    parser.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler")
    parser.add_argument("--workers", type=int, default=1, help="jobs run in parallel on local cores")


def run(args: argparse.Namespace) -> int:
    import yaml

    from simtransfer.envs.errors import SimtransferError
    from simtransfer.experiments.tuning import tune

    options = {}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SimtransferError(f"--option {item!r}: expected NAME=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    summary = tune(args.experiment, args.method, args.params, args.out, trials=args.trials, target=args.target,
                   metric=args.metric, seed=args.sampler_seed, seeds=args.seeds, workers=args.workers,
                   options=options)
    print(json.dumps(summary["best"], default=str), file=sys.stdout)
    return 0
