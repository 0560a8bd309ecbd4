"""Markdown for bench/results/deploy.json (bench/bench_deploy.py): latency per format and size, loop jitter."""

from __future__ import annotations

from typing import Any


def deploy(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = ["# Export and deploy", "",
             f"Measured {data['started']} on {m['cpus']} × {m['cpu']} (Python {m['python']}, torch {m['torch']}); "
             f"load average {data['load_before']} before, {data['load_after']} after — the machine is shared with "
             "other jobs, so tail numbers include their interference.", "",
             "## Inference latency at batch 1, one core", "",
             "| policy (PPO MLP, with VecNormalize) | path | p50 µs | p99 µs |", "|---|---|---:|---:|"]
    for size, paths in data["latency"].items():
        for path, s in paths.items():
            lines.append(f"| {size} | {path} | {s['p50_us']:.0f} | {s['p99_us']:.0f} |")
    p = data["parity"]
    lines += ["", f"Parity of the exported pendulum (ONNX Runtime) with the framework: max |diff| "
              f"{p['max_abs_diff']:.2g} over {p['steps']} steps of {p['episodes']} real episodes.", "",
              f"## Control loop with the HIL stand-in ({data['seconds']:g} s each)", "",
              "| rate Hz | steps | missed deadlines | jitter p50 µs | jitter p99 µs | latency p99 µs | safe actions "
              "| pendulum fell |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    runs = dict(data["loop"])
    runs[f"{data['demo']['rate_hz']:g} (demo)"] = data["demo"]
    for hz, r in runs.items():
        lines.append(f"| {hz} | {r['steps']} | {r['missed_deadlines']} ({100 * r['missed_fraction']:.2f}%) | "
                     f"{r['jitter_p50_us']:.0f} | {r['jitter_p99_us']:.0f} | {r['latency_p99_us']:.0f} | "
                     f"{r['safe_actions']} | {r['plant_terminations']} |")
    d = data["demo"]
    verdict = "balanced the whole time" if d["plant_terminations"] == 0 and not d["stopped"] else \
        f"fell {d['plant_terminations']} time(s)"
    lines += ["", f"Demo: the exported policy ran {d['duration_s']:.1f} s at {d['rate_hz']:g} Hz against the "
              f"real-time PyBullet pendulum in another process ({d['plant_physics_steps']} physics steps) and "
              f"{verdict}.", ""]
    return "\n".join(lines)
