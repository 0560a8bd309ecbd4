"""``simtransfer run EXPERIMENT.yaml [--workers N] [--out DIR] [--ray ADDRESS]``: the whole pipeline."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment YAML (see experiments/configs/quickstart.yaml)")
    parser.add_argument("--out", default=None, help="results directory (default: results/<experiment name>)")
    parser.add_argument("--workers", type=int, default=1, help="jobs run in parallel on local cores (default 1)")
    parser.add_argument("--ray", dest="ray_address", default=None, metavar="ADDRESS",
                        help="run jobs as Ray tasks: 'local' starts Ray here, 'auto' or ray://host:port joins a cluster")
    parser.add_argument("--force", action="store_true",
                        help="reuse an output directory that holds a different experiment config")
    parser.add_argument("--no-report", action="store_true", help="skip writing the report at the end")


def run(args: argparse.Namespace) -> int:
    from simtransfer.experiments.runner import run_experiment

    summary = run_experiment(args.experiment, args.out, workers=args.workers, ray_address=args.ray_address,
                             force=args.force, report=not args.no_report)
    return 1 if summary.failed else 0
