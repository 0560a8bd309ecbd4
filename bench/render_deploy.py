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
             f"Scheduling of the timed calls: {data.get('latency_scheduling', 'normal')} (SCHED_FIFO: other processes "
             "on the machine cannot preempt them, as on a robot's control core).", "",
             "| policy (PPO MLP, with VecNormalize) | path | p50 µs | p99 µs |", "|---|---|---:|---:|"]
    for size, paths in data["latency"].items():
        for path, s in paths.items():
            lines.append(f"| {size} | {path} | {s['p50_us']:.0f} | {s['p99_us']:.0f} |")
    p = data["parity"]
    lines += ["", f"Parity of the exported pendulum (ONNX Runtime) with the framework: max |diff| "
              f"{p['max_abs_diff']:.2g} over {p['steps']} steps of {p['episodes']} real episodes.", "",
              f"## Control loop with the HIL stand-in ({data['seconds']:g} s each)", "",
              "*Robot calls*: inline = on the loop's thread, bounded by a timer; thread = on a worker thread (compare "
              "their latency p50). *Scheduling*: normal, or SCHED_FIFO for the loop (priority 50) "
              "and the plant process (60) — `simtransfer deploy --realtime 50`, `--robot-arg realtime=60`. *Busy*: "
              "processes spinning at normal priority during the run, one per core.", "",
              "| setting | robot calls | scheduling | busy | steps | missed deadlines | jitter p50 µs | jitter p99 µs "
              "| latency p50 µs | latency p99 µs | safe actions | pendulum fell |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    runs = dict(data["loop"])
    runs[f"{data['demo']['rate_hz']:g} Hz (demo)"] = data["demo"]
    for label, r in runs.items():
        sched = "normal" if r.get("realtime") is None else f"FIFO {r['realtime']} / plant {r.get('plant_realtime')}"
        lines.append(f"| {label} | {r.get('robot_calls', 'thread')} | {sched} | {r.get('background', 0)} | "
                     f"{r['steps']} | {r['missed_deadlines']} ({100 * r['missed_fraction']:.2f}%) | "
                     f"{r['jitter_p50_us']:.0f} | {r['jitter_p99_us']:.0f} | {r['latency_p50_us']:.0f} | "
                     f"{r['latency_p99_us']:.0f} | {r['safe_actions']} | {r['plant_terminations']} |")
    d = data["demo"]
    verdict = "balanced the whole time" if d["plant_terminations"] == 0 and not d["stopped"] else \
        f"fell {d['plant_terminations']} time(s)"
    lines += ["", f"Demo: the exported policy ran {d['duration_s']:.1f} s at {d['rate_hz']:g} Hz against the "
              f"real-time PyBullet pendulum in another process ({d['plant_physics_steps']} physics steps) and "
              f"{verdict}.", ""]
    return "\n".join(lines)
