"""The README's tour stays true: every ``simtransfer ...`` command in it parses with today's CLI, and every
config file and doc it names exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tour_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.startswith("simtransfer ")]


def test_the_tour_has_the_loop():
    names = {shlex.split(c)[1] for c in _tour_commands()}
    assert {"train", "evaluate", "transfer", "run", "report", "collect", "calibrate", "export", "deploy"} <= names


@pytest.mark.parametrize("command", _tour_commands())
def test_each_tour_command_parses(command):
    from simtransfer.experiments.cli import build_parser

    argv = shlex.split(command)[1:]
    args = build_parser(argv[0]).parse_args(argv)  # argparse exits (SystemExit) on an unknown option
    for value in vars(args).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith(("experiments/configs/", "docs/")):
                assert (ROOT / item).exists(), f"README names {item}, which does not exist"
