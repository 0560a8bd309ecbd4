"""``simtransfer report RESULTS_DIR``: tables and plots from a finished experiment."""

from __future__ import annotations

import argparse
import sys

from simtransfer.envs.errors import SimtransferError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="directory written by 'simtransfer run'")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: 2000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default: 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    parser.add_argument("--last-k", type=int, default=3, dest="last_k",
                        help="evaluations averaged into the asymptotic return (default: 3)")
    parser.add_argument("--no-plots", action="store_true", help="write tables only, no PNGs")
    parser.add_argument("--wandb", choices=("offline", "online", "disabled"), default=None,
                        help="also log the report to W&B in this mode (default: don't)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on stdout instead of the table")


def run(args: argparse.Namespace) -> int:
    from simtransfer.experiments.report import build_report, log_report_to_wandb, print_table

    if args.reps < 1:
        raise SimtransferError(f"--reps must be at least 1, got {args.reps}")
    if not 0.0 < args.confidence < 1.0:
        raise SimtransferError(f"--confidence must be between 0 and 1, got {args.confidence}")
    if args.last_k < 1:
        raise SimtransferError(f"--last-k must be at least 1, got {args.last_k}")
    report = build_report(args.results_dir, reps=args.reps, confidence=args.confidence, seed=args.seed,
                          k=args.last_k, plots=not args.no_plots)
    if args.json:
        sys.stdout.write(report.files["json"].read_text())
    else:
        print_table(report.summaries)
    for note in report.notes:
        print(f"simtransfer: note: {note}", file=sys.stderr)
    if args.wandb is not None:
        log_report_to_wandb(args.results_dir, args.wandb)
    print(f"report written to {report.files['markdown']}", file=sys.stderr)
    return 0


__all__ = ["add_arguments", "run"]
