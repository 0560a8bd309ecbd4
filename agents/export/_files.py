"""Write an :class:`ExportedGraph` as ONNX or TorchScript with its metadata embedded; read it back.

ONNX keeps the metadata as one ``metadata_props`` entry (key ``simtransfer``, a JSON object); TorchScript as the
extra file ``simtransfer.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from simtransfer.agents.export._graph import ExportedGraph
from simtransfer.agents.policy_io import atomic_write_bytes
from simtransfer.envs.errors import SimtransferError

FORMATS = ("onnx", "torchscript")
META_KEY = "simtransfer"
EXTRA_FILE = "simtransfer.json"
OPSET = 17


def example_inputs(graph: ExportedGraph, metadata: dict[str, Any], batch: int = 1) -> tuple[torch.Tensor, ...]:
    obs = torch.zeros((batch, *metadata["observation"]["shape"]), dtype=torch.float32)
    if not graph.stateful:
        return (obs,)
    return (obs, torch.ones(batch)) + tuple(graph.initial_state(batch))


@contextlib.contextmanager
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings on SB3's Python-side checks, the legacy-exporter notice
        yield


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def to_torchscript(graph: ExportedGraph, metadata: dict[str, Any]) -> bytes:
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(graph, example_inputs(graph, metadata), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={EXTRA_FILE: json.dumps(metadata)})
    except Exception as exc:  # an op the tracer cannot record
        raise SimtransferError(f"cannot export this policy to TorchScript: {_one_line(exc)}") from None
    return buf.getvalue()


def to_onnx(graph: ExportedGraph, metadata: dict[str, Any]) -> bytes:
    import onnx

    names_in, names_out = metadata["inputs"], metadata["outputs"]
    axes = {n: {0: "batch"} for n in names_in + names_out}
    buf = io.BytesIO()
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(graph, example_inputs(graph, metadata), buf, input_names=names_in,
                              output_names=names_out, dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        model = onnx.load_from_string(buf.getvalue())
        entry = model.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(metadata)
        model.producer_name = "simtransfer"
        onnx.checker.check_model(model)
    except Exception as exc:  # an op without an ONNX symbolic (e.g. in a custom pixel extractor)
        raise SimtransferError(f"cannot export this policy to ONNX: {_one_line(exc)}") from None
    return model.SerializeToString()


def write_export(graph: ExportedGraph, metadata: dict[str, Any], fmt: str, out: str | Path) -> Path:
    """Serialize to ``out`` atomically (never a half-written file)."""
    if fmt not in FORMATS:
        raise SimtransferError(f"unknown export format '{fmt}' (onnx or torchscript)")
    data = to_onnx(graph, metadata) if fmt == "onnx" else to_torchscript(graph, metadata)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return out


def sniff_format(path: str | Path) -> str:
    """``torchscript`` (a zip archive) or ``onnx`` (a protobuf); a missing file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SimtransferError(f"exported policy not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    return "torchscript" if head.startswith(b"PK") else "onnx"


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata embedded in an exported file."""
    fmt = sniff_format(path)
    try:
        if fmt == "torchscript":
            extra = {EXTRA_FILE: ""}
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            text = extra[EXTRA_FILE]
        else:
            import onnx

            model = onnx.load(str(path), load_external_data=False)
            text = next((p.value for p in model.metadata_props if p.key == META_KEY), "")
        meta = json.loads(text) if text else None
    except SimtransferError:
        raise
    except Exception as exc:
        raise SimtransferError(f"{path} is not a readable exported policy: {_one_line(exc)}") from None
    if not isinstance(meta, dict) or "observation" not in meta:
        raise SimtransferError(f"{path} carries no simtransfer metadata (not exported by simtransfer export)")
    return meta
