"""The ``simtransfer`` command line.

Each sub-command lives in its own module and exposes ``add_arguments(parser)`` and ``run(args) -> int``;
this file only wires them together, so ``simtransfer --help`` stays fast (heavy imports happen in ``run``).
Any :class:`simtransfer.envs.errors.SimtransferError` becomes ``simtransfer: error: <one line>`` and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import os
import sys
from collections.abc import Iterator

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.trust import split_path, trusting

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "envs": ("simtransfer.experiments.commands.envs_cmd", "list environments and their randomizable parameters"),
    "train": ("simtransfer.experiments.commands.train_cmd", "train an agent from a config (randomized simulation)"),
    "evaluate": ("simtransfer.experiments.commands.evaluate_cmd", "evaluate a trained run on any target env"),
    "transfer": ("simtransfer.experiments.commands.transfer_cmd", "transfer a trained policy to a target env"),
    "run": ("simtransfer.experiments.commands.run_cmd", "run a whole experiment: source -> targets x methods x seeds"),
    "report": ("simtransfer.experiments.commands.report_cmd", "tables and plots from a finished experiment"),
    "export": ("simtransfer.experiments.commands.export_cmd", "export a run to one ONNX/TorchScript policy file"),
    "deploy": ("simtransfer.experiments.commands.deploy_cmd", "run an exported policy on a robot at a fixed rate"),
    "collect": ("simtransfer.experiments.commands.collect_cmd", "log trajectories of a run or exploration on a target"),
    "calibrate": ("simtransfer.experiments.commands.calibrate_cmd", "fit simulator parameters to logged trajectories"),
    "tune": ("simtransfer.experiments.commands.tune_cmd", "tune a transfer method's options with Optuna (TPE)"),
}


def _load(name: str):
    module_name, _ = COMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simtransfer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--trust", action="append", default=[], metavar="MODULE",
                       help="let configs and run directories name code from MODULE (and its submodules); without "
                            "it they may name only simtransfer's own components (repeatable)")
        if only is None or only == name:
            _load(name).add_arguments(p)
    return parser


@contextlib.contextmanager
def machine_stdout() -> Iterator[None]:
    """Keep stdout for what Python code prints (``--json`` objects, tables); C libraries that write to
    file descriptor 1 (pybullet prints its build time and ``argv[0]=`` on connect) go to stderr instead."""
    if sys.stdout is not sys.__stdout__ or sys.stdout is None:  # already redirected (pytest capsys, a pipe wrapper)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    original, sys.stdout = sys.stdout, open(saved, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        yield
    finally:
        sys.stdout.flush()
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).fflush(None)  # C-level buffers still go to stderr
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout = original


def _trust_from_command_line(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Trust ``--trust`` modules, and the module of a ``--target pkg.mod:callable`` or ``--robot pkg.mod:callable``
    typed on the command line, while the command runs."""
    modules = list(args.trust)
    for name in ("target", "robot"):
        value = getattr(args, name, None)
        if isinstance(value, str) and ":" in value and not value.endswith((".yaml", ".yml")):
            modules.append(split_path(value)[0])
    return trusting(*modules)


def main(argv: list[str] | None = None) -> int:
    with machine_stdout():
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with _trust_from_command_line(args):
            return int(_load(args.command).run(args) or 0)
    except SimtransferError as exc:
        print(f"simtransfer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simtransfer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # unexpected: one line by default, full traceback on request
        if os.environ.get("SIMTRANSFER_DEBUG"):
            raise
        print(f"simtransfer: error: {type(exc).__name__}: {exc} (set SIMTRANSFER_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
