"""PNG plots of a transfer report (matplotlib, Agg backend): learning curves, transfer ratios, zero-shot map."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from simtransfer.experiments.results import Results, method_order
from simtransfer.transfer.metrics import resample
from simtransfer.transfer.stats import TransferSummary, iqm_band

STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}


def slug(name: str) -> str:
    """A file-name-safe version of a target name (``simtransfer/Hopper-v0`` -> ``simtransfer_Hopper-v0``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "target"


def _label(name: str) -> str:
    """Tick label: long names break after each '/' so neighbouring labels do not collide."""
    return name.replace("/", "/\n") if len(name) > 14 else name


def _steps(ax) -> None:
    """Thousands of steps as ``10k``, millions as ``1.5M`` on the x axis."""
    from matplotlib.ticker import FuncFormatter

    def fmt(x, _pos):
        return f"{x / 1e6:g}M" if abs(x) >= 1e6 else f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"

    ax.xaxis.set_major_formatter(FuncFormatter(fmt))


def _colors(methods: list[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def _curves_plot(plt, results: Results, target: str, by: dict, colors: dict, path: Path, *, reps: int,
                 confidence: float, seed: int) -> None:
    data = results.targets[target]
    fig, ax = plt.subplots(figsize=(10.5, 5.5), constrained_layout=True)
    n_seeds = set()
    for m in method_order(data.methods):
        runs = data.methods[m]
        s = by.get((target, m))
        if all(r.curve is not None for r in runs):
            grid, values = resample([r.curve for r in runs])
            mid, low, high = iqm_band(values, reps=reps, confidence=confidence, seed=seed)
            lw = 2.6 if m == "scratch" else 2.0
            ax.plot(grid, mid, color=colors[m], lw=lw, label=f"{m} (n={len(runs)})",
                    ls="--" if m == "scratch" else "-")
            ax.fill_between(grid, low, high, color=colors[m], alpha=0.18, lw=0)
            n_seeds.add(len(runs))
        elif s is not None and s.zero_shot is not None:  # zero-shot: no training, a level
            ax.axhline(s.zero_shot.value, color=colors[m], lw=2.0, ls=":", label=f"{m} (n={len(runs)})")
            ax.axhspan(s.zero_shot.low, s.zero_shot.high, color=colors[m], alpha=0.10, lw=0)
    s0 = by.get((target, "scratch"))
    if s0 is not None:
        if s0.reference_source == "random policy":
            ax.axhline(s0.reference, color="0.45", lw=1.2, ls="-.", label="random policy")
        if s0.threshold is not None:
            ax.axhline(s0.threshold, color="0.2", lw=1.0, ls=(0, (1, 3)), label=f"threshold {s0.threshold:.4g}")
    pct = round(100 * confidence)
    ax.set_title(f"Learning curves on {target}\nIQM over seeds, shaded: {pct}% bootstrap CI")
    ax.set_xlabel("environment steps on the target")
    ax.set_ylabel("mean evaluation return")
    _steps(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _ratio_plot(plt, summaries: list[TransferSummary], colors: dict, path: Path, confidence: float) -> bool:
    rows = [s for s in summaries if s.transfer_ratio is not None]
    if not rows:
        return False
    targets = list(dict.fromkeys(s.target for s in rows))
    methods = list(dict.fromkeys(s.method for s in rows))
    by = {(s.target, s.method): s for s in rows}
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.6 + 1.5 * len(targets) * max(1, len(methods) / 2.5)), 5.2),
                           constrained_layout=True)
    x = np.arange(len(targets))
    flagged_any = False
    for j, m in enumerate(methods):
        for i, t in enumerate(targets):
            s = by.get((t, m))
            if s is None:
                continue
            e, xi = s.transfer_ratio, x[i] + (j - (len(methods) - 1) / 2) * width
            if not math.isfinite(e.value):
                ax.text(xi, 1.0, "n/a", ha="center", va="bottom", fontsize=9, color="0.3")
                continue
            neg = s.negative_transfer and "transfer_ratio" in s.negative_reasons
            flagged_any |= neg
            ax.bar(xi, e.value, width * 0.92, color=colors[m], edgecolor="firebrick" if neg else "none",
                   hatch="//" if neg else None, lw=1.5, label=m)
            if math.isfinite(e.low) and math.isfinite(e.high):
                ax.errorbar(xi, e.value, yerr=[[e.value - e.low], [e.high - e.value]], color="0.15",
                            capsize=4, lw=1.3)
    ax.axhline(1.0, color="0.1", lw=1.3, ls="--", label="scratch (ratio 1)")
    if flagged_any:
        ax.bar(np.nan, np.nan, color="white", edgecolor="firebrick", hatch="//", label="negative transfer")
    ax.set_xticks(x, [_label(t) for t in targets])
    ax.set_ylabel("transfer ratio (AUC / scratch AUC)")
    ax.set_xlabel("target")
    ax.set_title(f"Transfer ratio per target: IQM over seeds, {round(100 * confidence)}% CI\n"
                 "above 1: learns faster than scratch")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def _heatmap(plt, summaries: list[TransferSummary], path: Path) -> bool:
    rows = [s for s in summaries if s.relatedness is not None]
    if not rows:
        return False
    targets = list(dict.fromkeys(s.target for s in rows))
    methods = list(dict.fromkeys(s.method for s in rows))
    grid = np.full((len(methods), len(targets)), np.nan)
    for s in rows:
        grid[methods.index(s.method), targets.index(s.target)] = s.relatedness.value
    finite = grid[np.isfinite(grid)]
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    vmax = max(1.0, float(finite.max())) if finite.size else 1.0
    fig, ax = plt.subplots(figsize=(max(5.5, 2.2 + 1.5 * len(targets)), 1.8 + 0.55 * len(methods)),
                           constrained_layout=True)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(len(methods)):
        for j in range(len(targets)):
            v = grid[i, j]
            txt = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            r, g, b, _ = im.cmap(im.norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.42
            ax.text(j, i, txt, ha="center", va="center", fontsize=11, color="white" if dark else "black")
    ax.set_xticks(range(len(targets)), [_label(t) for t in targets])
    ax.set_yticks(range(len(methods)), methods)
    ax.set_xlabel("target")
    ax.set_ylabel("method (policy before target training)")
    ax.grid(False)
    ax.set_title("Zero-shot return on each target, normalised\n0 = random policy, 1 = scratch after training")
    fig.colorbar(im, ax=ax, label="normalised return")
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def write_plots(results: Results, summaries: list[TransferSummary], out: Path, *, reps: int,
                confidence: float, seed: int) -> dict[str, Path]:
    """Write every PNG into ``out``; returns ``{"curves:<target>": path, "ratios": path, "heatmap": path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    files: dict[str, Path] = {}
    by = {(s.target, s.method): s for s in summaries}
    colors = _colors(method_order({m for t in results.targets.values() for m in t.methods}))
    with plt.rc_context(STYLE):
        for target in dict.fromkeys(s.target for s in summaries):
            path = out / f"curves_{slug(target)}.png"
            _curves_plot(plt, results, target, by, colors, path, reps=reps, confidence=confidence, seed=seed)
            files[f"curves:{target}"] = path
        if _ratio_plot(plt, summaries, colors, out / "transfer_ratios.png", confidence):
            files["ratios"] = out / "transfer_ratios.png"
        if _heatmap(plt, summaries, out / "zeroshot_heatmap.png"):
            files["heatmap"] = out / "zeroshot_heatmap.png"
    return files
