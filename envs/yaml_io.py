"""YAML and JSON from files a user may have downloaded: size- and alias-bounded, never executable.

``yaml.safe_load`` builds no objects beyond plain data, but an *alias bomb* (nine anchors each repeating the
previous one nine times: about 1 KB) expands to 10⁹ nodes the moment anything walks it — pydantic validation,
``json.dumps``, a deep copy — and exhausts memory. :func:`parse_yaml` counts the nodes the document expands to
before building it and refuses more than :data:`MAX_NODES`; files over :data:`MAX_BYTES` are refused unread.

>>> parse_yaml("a: &x [1, 2]\\nb: *x")
{'a': [1, 2], 'b': [1, 2]}
>>> bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\\n" + "".join(
...     f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\\n" for p, n in zip("abcdefgh", "bcdefghi"))
>>> parse_yaml(bomb, source="bomb.yaml")
Traceback (most recent call last):
...
simtransfer.envs.errors.SimtransferError: bomb.yaml: the YAML expands to more than 100000 nodes (aliases repeating aliases?); refused
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from simtransfer.envs.errors import SimtransferError

MAX_BYTES = 4 * 1024 * 1024  # configs and presets are a few KB; metadata.json a few hundred KB
MAX_NODES = 100_000  # the expanded document; the largest shipped config has under 1,000


def _expanded_size(node: yaml.Node, source: str) -> int:
    """Nodes in the document with every alias expanded, counted without expanding it (memoised per node)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SimtransferError(f"{source}: the YAML refers to itself through an alias; refused")
        active.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        active.discard(key)
        if total > MAX_NODES:
            raise SimtransferError(f"{source}: the YAML expands to more than {MAX_NODES} nodes "
                                   "(aliases repeating aliases?); refused")
        sizes[key] = total
        return total

    return size(node)


def parse_yaml(text: str, *, source: str = "YAML") -> Any:
    """Plain data from YAML text, refusing oversized, alias-bombed or malformed documents with one line."""
    if len(text) > MAX_BYTES:
        raise SimtransferError(f"{source}: {len(text)} characters is more than a config can be ({MAX_BYTES}); refused")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SimtransferError(f"malformed YAML in {source}{where}: {problem}") from None
    except RecursionError:
        raise SimtransferError(f"{source}: the YAML is nested too deeply; refused") from None
    finally:
        loader.dispose()


def _read_text(path: str | Path, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise SimtransferError(f"file not found: {p}")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise SimtransferError(f"{p}: {size} bytes is more than a {what} can be ({MAX_BYTES}); refused")
    try:
        return p.read_text()
    except UnicodeDecodeError:
        raise SimtransferError(f"{p} is not a text file") from None


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file (bounded as :func:`parse_yaml`); a missing or malformed file is a one-line error."""
    return parse_yaml(_read_text(path, "YAML file"), source=str(path))


def load_json(path: str | Path) -> Any:
    """Read a JSON file of bounded size; a missing or malformed file is a one-line error naming it."""
    text = _read_text(path, "JSON file")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SimtransferError(f"corrupt JSON in {path}: {str(exc).splitlines()[0]}") from None
