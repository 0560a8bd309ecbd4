"""Export a run to one self-contained file: the robot's raw observation in, the action actually sent out.

Normalization, adapters, history stacks, progressive columns, squashing/clipping and argmax are all inside the
file; state (history, LSTM) is explicit. Runs are read only through
:func:`simtransfer.agents.policy_io.load_policy` (never unpickled).

>>> from simtransfer.agents.export import export_run
>>> export_run("runs/pendulum", "onnx", "pendulum.onnx")       # doctest: +SKIP
>>> from simtransfer.agents.export.runtime import ExportedPolicy
>>> ExportedPolicy("pendulum.onnx").act([0.0, 0.0, 1.0, 0.0, 0.0])   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simtransfer.agents.export._build import FORMAT, build_graph, control_period, weights_hash
from simtransfer.agents.export._files import FORMATS, read_metadata, sniff_format, write_export
from simtransfer.agents.policy_io import LoadedPolicy, load_policy
from simtransfer.envs.errors import SimtransferError

__all__ = ["FORMAT", "FORMATS", "build_graph", "control_period", "export_run", "read_metadata", "sniff_format",
           "weights_hash"]


def export_run(run: str | Path | LoadedPolicy, fmt: str, out: str | Path, *, force: bool = False,
               env_spec: Any = None) -> dict[str, Any]:
    """Write ``run``'s policy as ``fmt`` (onnx|torchscript) to ``out``; returns the embedded metadata.

    An existing ``out`` is kept unless ``force`` (earlier results are never destroyed by accident).
    """
    if fmt not in FORMATS:
        raise SimtransferError(f"unknown export format '{fmt}' (onnx or torchscript)")
    out = Path(out)
    if out.exists() and not force:
        raise SimtransferError(f"{out} exists (pass --force to overwrite it)")
    if out.is_dir():
        raise SimtransferError(f"{out} is a directory; --out names the file to write")
    policy = run if isinstance(run, LoadedPolicy) else load_policy(run)
    graph, metadata, env = build_graph(policy, env_spec)
    try:
        metadata = dict(metadata, file_format=fmt)
        write_export(graph, metadata, fmt, out)
    finally:
        env.close()
    return metadata
