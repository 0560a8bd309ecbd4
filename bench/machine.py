"""Machine and load of a benchmark run, recorded the same way in every ``bench/results/*.json``.

>>> record = {}
>>> with measured(record):
...     pass
>>> sorted(record)
['load_after', 'load_before', 'machine', 'started', 'wall_s']
>>> record["machine"]["cpus"] >= 1
True

The renderer (``bench/render.py``) prints it with :func:`machine_line`; a timing is published only from a
run that measured it (``wall_s`` is written by :func:`measured` and nowhere else).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load() -> list[float]:
    """The 1/5/15-minute load averages (``uptime``); empty where the OS has none."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def machine() -> dict[str, Any]:
    """CPU count and model, architecture, Python and torch versions."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version = None
    return {"cpus": os.cpu_count(), "cpu": cpu_model(), "arch": platform.machine(),
            "python": platform.python_version(), "torch": torch_version}


@contextmanager
def measured(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Fill ``record`` with the machine, the load before and after, the start time and the wall time of the
    ``with`` block."""
    record["machine"] = machine()
    record["load_before"] = load()
    record["started"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    try:
        yield record
    finally:
        record["wall_s"] = round(time.perf_counter() - t0, 1)
        record["load_after"] = load()


def machine_line(record: dict[str, Any]) -> str | None:
    """``"Machine: 2 CPUs (AMD EPYC), x86_64, Python 3.11.7, torch 2.3.0; started ...; load ..."`` or None
    when ``record`` holds no :func:`measured` machine (results written before this helper existed).

    >>> machine_line({"machine": {"cpus": 2, "cpu": "EPYC", "arch": "x86_64", "python": "3.11", "torch": "2.3"},
    ...               "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 1.0, 1.0], "started": "t", "wall_s": 3.0})
    'Machine: 2 CPUs (EPYC), x86_64, Python 3.11, torch 2.3. Started t, wall time 3 s, load average (1/5/15 min) 1.00/1.00/1.00 → 2.00/1.00/1.00.'
    """
    m = record.get("machine")
    if not isinstance(m, dict) or "cpus" not in m or "arch" not in m:
        return None
    text = f"Machine: {m['cpus']} CPUs ({m.get('cpu', '?')}), {m.get('arch', '?')}, Python {m.get('python', '?')}"
    text += f", torch {m['torch']}." if m.get("torch") else "."
    if "started" in record:
        text += f" Started {record['started']}"
        text += f", wall time {record['wall_s']:.0f} s" if "wall_s" in record else ""
        fmt = "/".join
        if record.get("load_before") and record.get("load_after"):
            text += (f", load average (1/5/15 min) {fmt(f'{x:.2f}' for x in record['load_before'])} → "
                     f"{fmt(f'{x:.2f}' for x in record['load_after'])}")
        text += "."
    return text


def load_bench_experiment(path: Path | str, *, quick: bool, quick_target_steps: int) -> Any:
    """A bench's experiment YAML; ``quick``: one seed and tiny budgets (a smoke test of the pipeline)."""
    from simtransfer.experiments.experiment import load_experiment

    cfg = load_experiment(path)
    if quick:
        cfg.seeds = [1]
        cfg.source.timesteps = 2048
        cfg.source.set = [*cfg.source.set, "eval.every=1024"]
        cfg.budget.timesteps, cfg.budget.eval_every = quick_target_steps, 512
        cfg.budget.eval_episodes, cfg.budget.final_episodes = 1, 1
    return cfg
