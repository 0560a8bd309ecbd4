"""The source zoo: shipped, pre-trained sources addressed as ``zoo:FAMILY/KIND/SEED`` wherever a run directory is.

The zoo is data only: ``experiments/zoo/manifest.json`` lists every entry and the sha256 of each of its files;
an entry is a run directory (``config.yaml``, ``metadata.json``, ``policy.safetensors``, ``eval.json``) plus
``zoo.json`` (family, kind, seed, training time, the recorded nominal return). Resolving an entry checks every
sha256 first, so a modified file is a one-line error, never a silently different policy. Nothing is unpickled and
no code is imported from the zoo (names in its configs still resolve through ``envs.trust``).

>>> from simtransfer.agents.zoo import is_zoo_spec, parse_zoo_spec
>>> is_zoo_spec("zoo:pendulum/nominal/0"), is_zoo_spec("runs/pend")
(True, False)
>>> parse_zoo_spec("zoo:pendulum/nominal/0")
'pendulum/nominal/0'
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from simtransfer.envs.errors import SimtransferError

PREFIX = "zoo:"
MANIFEST = "manifest.json"
FORMAT = "simtransfer-zoo/1"
REQUIRED = ("config.yaml", "metadata.json", "policy.safetensors")
SHIPPED = (*REQUIRED, "eval.json")  # + zoo.json; never model.zip (a pickle) or checkpoints
# experiments/zoo/ is package data of simtransfer.experiments; it sits at the same place relative to this file in
# the source tree (agents/ next to experiments/) and once installed (simtransfer/agents next to
# simtransfer/experiments), so it is found by path, without importing the layer above. SIMTRANSFER_ZOO overrides.
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "experiments" / "zoo"

__all__ = ["DEFAULT_DIR", "PREFIX", "add_entry", "copy_entry", "entry_files", "is_zoo_spec", "parse_zoo_spec", "read_manifest",
           "resolve_run_dir", "resolve_zoo", "zoo_dir", "zoo_files", "zoo_source", "zoo_spec"]


def zoo_dir() -> Path:
    """The zoo's directory: ``$SIMTRANSFER_ZOO`` if set, else the shipped ``experiments/zoo/``."""
    return Path(os.environ.get("SIMTRANSFER_ZOO") or DEFAULT_DIR)


def is_zoo_spec(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse_zoo_spec(spec: str) -> str:
    """``zoo:FAMILY/KIND/SEED`` -> ``FAMILY/KIND/SEED`` (a malformed spec is a one-line error)."""
    key = spec[len(PREFIX):].strip().strip("/")
    parts = key.split("/")
    if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
        raise SimtransferError(f"malformed zoo source {spec!r}: expected zoo:FAMILY/KIND/SEED, e.g. "
                               "zoo:pendulum/nominal/0")
    return key


def read_manifest(root: str | Path | None = None) -> dict[str, Any]:
    """The manifest (``{"format", "entries": {key: {"files": {name: sha256}, ...}}}``) of the zoo at ``root``."""
    path = Path(root or zoo_dir()) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise SimtransferError(f"no source zoo at {path.parent} ({MANIFEST} is missing)") from None
    except (OSError, ValueError) as exc:
        raise SimtransferError(f"zoo manifest {path} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(
            manifest.get("entries"), dict):
        raise SimtransferError(f"zoo manifest {path} is corrupt: expected format {FORMAT!r} with 'entries'")
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry_files(entry_dir: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files an entry ships (what the manifest records)."""
    return {p.name: _sha256(p) for p in sorted(entry_dir.iterdir()) if p.is_file()}


def _available(entries: dict[str, Any]) -> str:
    by_group: dict[str, list[str]] = {}
    for key in sorted(entries):
        family, kind, seed = key.split("/")
        by_group.setdefault(f"{family}/{kind}", []).append(seed)
    return ", ".join(f"{g}/{{{','.join(s)}}}" for g, s in by_group.items()) or "none"


def resolve_zoo(spec: str, root: str | Path | None = None) -> Path:
    """The checked directory of zoo entry ``spec``: unknown entry -> error listing the entries; sha256 verified."""
    key = parse_zoo_spec(spec)
    root = Path(root or zoo_dir())
    entries = read_manifest(root)["entries"]
    if key not in entries:
        raise SimtransferError(f"unknown zoo source {spec!r}; the zoo has: {_available(entries)}")
    entry = entries[key]
    files = entry.get("files") if isinstance(entry, dict) else None
    if not isinstance(files, dict) or any(name not in files for name in REQUIRED):
        raise SimtransferError(f"zoo manifest entry {key!r} is corrupt: it must list {', '.join(REQUIRED)}")
    entry_dir = (root / key).resolve()
    if root.resolve() not in entry_dir.parents:
        raise SimtransferError(f"zoo entry {key!r} points outside the zoo")
    for name, expected in sorted(files.items()):
        path = entry_dir / name
        if Path(name).name != name or not path.is_file():
            raise SimtransferError(f"zoo source {spec!r} is incomplete: {name} is missing")
        if _sha256(path) != expected:
            raise SimtransferError(f"zoo source {spec!r}: {name} does not match the sha256 in the zoo manifest "
                                   "(modified or corrupt)")
    return entry_dir


def zoo_spec(family_kind: str, seed: int) -> str:
    """``zoo:FAMILY/KIND/SEED`` for an experiment's ``source: zoo:FAMILY/KIND`` at one seed."""
    return f"{PREFIX}{family_kind.strip('/')}/{seed}"


def copy_entry(spec: str, run_dir: str | Path) -> Path:
    """Copy the checked files of zoo entry ``spec`` into ``run_dir`` (an experiment's source directory)."""
    entry = resolve_zoo(spec)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in read_manifest()["entries"][parse_zoo_spec(spec)]["files"]:
        (out / name).write_bytes((entry / name).read_bytes())
    return out


def zoo_files(spec: str) -> dict[str, str]:
    """``{file: sha256}`` of a checked zoo entry (what an experiment's fingerprint of a zoo source holds)."""
    resolve_zoo(spec)
    return dict(read_manifest()["entries"][parse_zoo_spec(spec)]["files"])


def zoo_source(family_kind: str, seed: int, run_dir: str | Path) -> dict[str, Any]:
    """An experiment's source job for ``source: zoo:FAMILY/KIND``: the entry of ``seed`` copied into ``run_dir``."""
    spec = zoo_spec(family_kind, seed)
    out = copy_entry(spec, run_dir)
    try:
        final = json.loads((out / "eval.json").read_text()).get("final", {})
    except (OSError, ValueError):
        final = {}
    return {"final": {k: v.get("mean_return") for k, v in final.items() if isinstance(v, dict)},
            "resumed": False, "zoo": spec}


def add_entry(root: str | Path, key: str, run_dir: str | Path, info: dict[str, Any]) -> Path:
    """Copy a finished run's data files (never ``model.zip``, a pickle) to ``root/key``, write ``info`` as
    ``zoo.json`` and record the sha256 of every file in ``root/manifest.json``; returns the entry directory."""
    key = parse_zoo_spec(PREFIX + key)
    root, run = Path(root), Path(run_dir)
    missing = [name for name in SHIPPED if not (run / name).is_file()]
    if missing:
        raise SimtransferError(f"{run} is not a finished run: {', '.join(missing)} missing")
    dest = root / key
    dest.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        (dest / name).write_bytes((run / name).read_bytes())
    (dest / "zoo.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    manifest = read_manifest(root) if (root / MANIFEST).is_file() else {"format": FORMAT, "entries": {}}
    manifest["entries"][key] = {"files": entry_files(dest),
                                **{k: info[k] for k in ("env", "nominal_target") if k in info}}
    manifest["entries"] = dict(sorted(manifest["entries"].items()))
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return dest


def resolve_run_dir(run_dir: str | Path) -> Path:
    """A run directory as given, or the checked zoo entry for ``zoo:FAMILY/KIND/SEED``."""
    return resolve_zoo(run_dir) if is_zoo_spec(run_dir) else Path(run_dir)
