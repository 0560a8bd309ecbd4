"""What calibration writes: the calibrated randomization preset, the estimates table, the before/after plot."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simtransfer.envs.params import KINDS, parse_name
from simtransfer.transfer.calibration.fit import Fit
from simtransfer.transfer.calibration.simulator import Simulator

MIN_SPREAD = 0.05  # a calibrated range is at least +-5% of the estimate wide


def make_preset(base: dict[str, Any], result: Fit) -> dict[str, Any]:
    """``base`` (the task preset) with every identified parameter centred on its estimate."""
    out = copy.deepcopy(base)
    params = out.setdefault("params", {})
    for name, est in result.estimates.items():
        if not est.identified:
            continue
        kind = parse_name(name)[0]
        k = KINDS[kind]
        if kind == "action_latency":
            params[name] = {"dist": "categorical", "choices": [int(round(est.value))]}
            for other in [n for n in params if parse_name(n)[0] == "obs_latency"]:
                params[other] = {"dist": "categorical", "choices": [0]}  # the fitted delay is the total one
            continue
        valid = k.valid_relative if k.relative_default else k.valid_absolute
        lo = min(est.low if est.low is not None else est.value, est.value * (1 - MIN_SPREAD))
        hi = max(est.high if est.high is not None else est.value, est.value * (1 + MIN_SPREAD))
        lo, hi = max(valid[0], float(lo)), min(valid[1], float(hi))
        params[name] = {"dist": "uniform", "low": round(lo, 6), "high": round(hi, 6)}
    out["split"] = "train"
    return out


def write_yaml(path: Path, data: dict[str, Any], header: str = "") -> None:
    text = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(text + yaml.safe_dump(data, sort_keys=False))


def markdown_table(report: dict[str, Any]) -> str:
    """The estimates as Markdown (rendered from ``calibration.json``)."""
    lines = [f"# Calibration of {report['sim']} from {report['data']}", "",
             f"{report['episodes']} episodes, {report['steps']} steps; {report['windows']} windows of "
             f"{report['horizon']} steps; prediction cost {report['cost_nominal']:.4g} (nominal) -> "
             f"{report['cost_fit']:.4g} (fit); {report['evaluations']} simulator evaluations in "
             f"{report['seconds']:.0f} s.", "",
             "| parameter | estimate | 95% interval | identified | note |", "|---|---|---|---|---|"]
    for e in report["estimates"]:
        iv = "" if e["low"] is None else f"[{e['low']:.4g}, {e['high']:.4g}]"
        lines.append(f"| {e['name']} | {e['value']:.4g} | {iv} | {'yes' if e['identified'] else 'no'} | "
                     f"{e['note']} |")
    costs = ", ".join(f"{k}: {v:.4g}" for k, v in report["delay_costs"].items())
    lines += ["", f"Prediction cost per delay (steps): {costs}", ""]
    return "\n".join(lines)


def plot_fit(sim: Simulator, result: Fit, path: Path, dims: int = 4) -> None:
    """Logged observations of the longest episode vs ``horizon``-step simulated segments, nominal and fitted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = sim.data.episodes
    e = int(np.argmax([len(ep) for ep in eps]))
    H = result.horizon
    windows = [(e, k) for k in range(0, len(eps[e]) - H + 1, H)]
    if not windows:
        return
    fitted = {k: v for k, v in result.values().items() if k in sim.physics}
    delay = int(round(result.values().get("action_latency", 0)))
    before = sim.predict({}, 0, windows, H)
    after = sim.predict(fitted, delay, windows, H, warmup=6)
    obs = eps[e].observations
    n = min(dims, obs.shape[1])
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n), sharex=True)
    axes = np.atleast_1d(axes)
    for i, ax in enumerate(axes):
        ax.plot(obs[:, i], "k-", lw=1, label="logged")
        for w, (_, k) in enumerate(windows):
            xs = np.arange(k + 1, k + 1 + H)
            ax.plot(xs, before[w, :, i], "r--", lw=1, label="simulated, nominal" if w == 0 else None)
            ax.plot(xs, after[w, :, i], "b-", lw=1, label="simulated, calibrated" if w == 0 else None)
        ax.set_ylabel(f"obs[{i}]")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel(f"control step (episode {e}; {H}-step predictions from logged states)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
