"""``simtransfer envs [TASK] [--targets] [--split-seed N] [--json]``: list environments and their parameters.

Without TASK: every task, its ids and its randomized parameters. With TASK (``Hopper`` or any of its ids):
each parameter's kind, mode, nominal value, training range, extrapolation region and valid bounds; with
``--targets`` also the held-out target vectors of the interp and extrap splits for ``--split-seed``.
Human output is a table on stderr; ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.registry import TASKS, VARIANTS, env_id, preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", nargs="?", default=None,
                        help="a task (e.g. Hopper) or one of its ids (simtransfer/HopperInterp-v0)")
    parser.add_argument("--targets", action="store_true", help="also show the held-out target vectors")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the held-out target sets (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _task_name(arg: str) -> str:
    name = arg.split("/")[-1].removesuffix("-v0")
    for variant in sorted(VARIANTS, key=len, reverse=True):
        if variant and name.endswith(variant) and name[: -len(variant)] in TASKS:
            return name[: -len(variant)]
    if name in TASKS:
        return name
    raise SimtransferError(f"unknown task '{arg}' (known: {', '.join(TASKS)})")


def _task_info(task: str, *, targets: bool, split_seed: int) -> dict[str, Any]:
    from simtransfer.envs.params import ParameterSpace, make_targets
    from simtransfer.envs.randomization import parse_randomization

    spec = parse_randomization(preset(task))
    space = ParameterSpace.from_mapping(dict(spec.params))
    info: dict[str, Any] = {
        "task": task,
        "ids": {(split): env_id(task, variant) for variant, split in VARIANTS.items()},
        "base": TASKS[task].entry_point,
        "max_episode_steps": TASKS[task].max_episode_steps,
        "params": space.describe(),
    }
    if targets:
        info["split_seed"] = split_seed
        info["targets"] = {s: make_targets(space, s, split_seed, spec.n_targets) for s in ("interp", "extrap")}
    return info


_DEFAULT_TARGET = {"gravity": "world", "motor_gain": "all motors", "joint_damping": "robot joints"}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _print_tables(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stderr)
    if "envs" in data:
        table = Table(title="ids: simtransfer/<Task>-v0 (train), <Task>Nominal-v0, <Task>Interp-v0, "
                            "<Task>Extrap-v0")
        table.add_column("task", no_wrap=True)
        table.add_column("steps")
        table.add_column("randomized parameters")
        for e in data["envs"]:
            table.add_row(e["task"], str(e["max_episode_steps"]), ", ".join(p["name"] for p in e["params"]))
        console.print(table)
        console.print("details: simtransfer envs TASK [--targets]")
        return
    table = Table(title=f"{data['task']}: parameters ({data['base']})")
    for col in ("name", "mode", "dist", "nominal", "train range", "extrap region", "valid bounds", "links"):
        table.add_column(col)
    for p in data["params"]:
        table.add_row(p["name"], p["mode"], p["dist"], _fmt(p["nominal"]),
                      f"[{_fmt(p['low'])}, {_fmt(p['high'])}]",
                      f"[{_fmt(p['extrap_low'])}, {_fmt(p['extrap_high'])}]",
                      f"[{_fmt(p['valid_low'])}, {_fmt(p['valid_high'])}]",
                      ", ".join(p["links"]) if p["links"] else _DEFAULT_TARGET.get(p["kind"], "robot links"))
    console.print(table)
    console.print("ids: " + ", ".join(data["ids"].values()))
    for split, vectors in data.get("targets", {}).items():
        t = Table(title=f"{split} targets (split_seed {data['split_seed']})")
        names = [p["name"] for p in data["params"]]
        t.add_column("#")
        for n in names:
            t.add_column(n)
        for i, v in enumerate(vectors):
            t.add_row(str(i), *(_fmt(v[n]) for n in names))
        console.print(t)


def run(args: argparse.Namespace) -> int:
    if args.task is None:
        data: dict[str, Any] = {"envs": [_task_info(t, targets=False, split_seed=0) for t in TASKS]}
    else:
        data = _task_info(_task_name(args.task), targets=args.targets, split_seed=args.split_seed)
    if args.json:
        print(json.dumps(data))
    else:
        _print_tables(data)
    return 0
