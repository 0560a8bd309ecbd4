"""The source zoo: train competent sources with `simtransfer train`, pack them, measure them against their bar.

Three stages, each resumable (a finished stage is skipped):

    python bench/bench_zoo.py train            # every zoo config x seeds, 2 at a time, niced (bench/.zoo_runs/)
    python bench/bench_zoo.py pack             # finished runs -> experiments/zoo/ (safetensors + JSON + manifest)
    python bench/bench_zoo.py measure          # evaluate every shipped entry on nominal physics -> bench/results/zoo.json
    python bench/bench_zoo.py train --families hopper --kinds nominal dr adr --seeds 0 1 2 3 4   # the full setting

Training runs the committed configs in ``experiments/configs/zoo/<family>_<kind>.yaml`` through the project's own
``simtransfer train`` CLI (one subprocess per seed, ``nice -n 10``); the wall and CPU time of each is recorded in
``bench/.zoo_runs/timing.json`` and carried into the manifest. ``python bench/render.py`` writes the tables.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CONFIGS = ROOT / "experiments" / "configs" / "zoo"
RUNS = ROOT / "bench" / ".zoo_runs"
RESULTS = ROOT / "bench" / "results"
KINDS = ("nominal", "dr", "adr")
CHEAP = ("pendulum", "double_pendulum", "reacher")
_LOCK = threading.Lock()


def zoo_configs() -> dict[tuple[str, str], Path]:
    """``(family, kind) -> config path`` for every committed zoo config."""
    out: dict[tuple[str, str], Path] = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        family, _, kind = path.stem.rpartition("_")
        out[(family, kind)] = path
    return out


def _record_timing(key: str, entry: dict[str, Any]) -> None:
    with _LOCK:
        path = RUNS / "timing.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[key] = entry
        path.write_text(json.dumps(data, indent=2, sort_keys=True))


def train_one(family: str, kind: str, seed: int, config: Path, nice: int) -> str:
    """Run ``simtransfer train CONFIG --seed S --out RUNS/family/kind/seed``; skip a finished run."""
    out = RUNS / family / kind / str(seed)
    key = f"{family}/{kind}/{seed}"
    if (out / "policy.safetensors").is_file():
        return f"{key}: finished before"
    cli = Path(sys.executable).with_name("simtransfer")
    niced = ["nice", "-n", str(max(0, nice - os.nice(0)))]  # the niceness the training ends up with is `nice`
    cmd = [*niced, str(cli), "train", str(config), "--seed", str(seed), "--out", str(out), "--force"]
    if any((out / "checkpoints").glob("*")):  # killed earlier: continue from its last checkpoint
        cmd = [*niced, str(cli), "train", "--resume", str(out)]
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    log = (RUNS / f"{family}_{kind}_{seed}.log").open("a")
    try:  # another invocation (e.g. a second worker started later) is training this one: leave it
        fcntl.flock(log, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return f"{key}: running in another invocation"
    load0 = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - t0
    rc = os.waitstatus_to_exitcode(status)
    _record_timing(key, {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "rc": rc,
                         "load_start": round(load0, 2), "load_end": round(os.getloadavg()[0], 2),
                         "config": str(config.relative_to(ROOT)), "resumed": "--resume" in cmd})
    return f"{key}: rc={rc} wall={wall:.0f}s"


def cmd_train(args: argparse.Namespace) -> int:
    configs = zoo_configs()
    jobs = []
    # seed-major, cheap families first: an interrupted zoo still has every family/kind at seed 0
    for seed in args.seeds:
        for family in args.families:
            for kind in args.kinds:
                if (family, kind) in configs:
                    jobs.append((family, kind, seed, configs[(family, kind)]))
    RUNS.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for line in pool.map(lambda j: train_one(*j, nice=args.nice), jobs):
            print(line, flush=True)
    return 0


# ---------------------------------------------------------------------------------------------- packing
CHECK_EPISODES = 1
CHECK_SEED = 0


def nominal_target(config: dict[str, Any]) -> str:
    """The nominal-physics env id of a zoo config (its first eval target: ``simtransfer/<Task>Nominal-v0``)."""
    return config["eval"]["targets"][0]["id"]


def zoo_info(key: str, run: Path, timing: dict[str, Any]) -> dict[str, Any]:
    """``zoo.json`` of a finished run: config, commit, seed, learning curve, evaluation, training time and the
    nominal-physics check return that ``tests/agents/test_zoo.py`` reproduces."""
    import yaml

    from simtransfer.experiments.evaluate import evaluate_run

    family, kind, seed = key.split("/")
    config = yaml.safe_load((run / "config.yaml").read_text())
    metadata = json.loads((run / "metadata.json").read_text())
    evals = json.loads((run / "eval.json").read_text())
    target = nominal_target(config)
    check = evaluate_run(run, target, episodes=CHECK_EPISODES, seed=CHECK_SEED)
    git = metadata.get("git") or {}
    return {
        "family": family, "kind": kind, "seed": int(seed),
        "config": timing.get("config", f"experiments/configs/zoo/{family}_{kind}.yaml"),
        "commit": git.get("commit"), "git_dirty": git.get("dirty"),
        "env": config["env"]["id"], "nominal_target": target,
        "timesteps": metadata.get("num_timesteps"), "stopped_early": bool(metadata.get("stopped_early")),
        "train_wall_s": timing.get("wall_s"), "train_cpu_s": timing.get("cpu_s"),
        "learning_curve": evals["curves"].get("train"),
        "final": {"train": evals["final"].get("train"), "nominal": evals["final"].get(target.split("/")[-1])},
        "check": {"target": target, "episodes": CHECK_EPISODES, "seed": CHECK_SEED,
                  "returns": [float(r) for r in check.returns], "mean_return": float(check.mean_return)},
    }


def cmd_pack(args: argparse.Namespace) -> int:
    from simtransfer.agents.zoo import MANIFEST, add_entry, read_manifest

    timing = json.loads((RUNS / "timing.json").read_text()) if (RUNS / "timing.json").is_file() else {}
    zoo = Path(args.zoo)
    known = read_manifest(zoo)["entries"] if (zoo / MANIFEST).is_file() else {}
    for run in sorted(RUNS.glob("*/*/*")):
        key = "/".join(run.relative_to(RUNS).parts)
        if not (run / "policy.safetensors").is_file() or key.split("/")[0] not in args.families:
            continue
        if key in known and not args.force:
            continue
        info = zoo_info(key, run, timing.get(key, {}))
        add_entry(zoo, key, run, info)
        print(f"packed {key}: check return {info['check']['mean_return']:.1f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("train", help="train every zoo config x seed with `simtransfer train`")
    p.add_argument("--families", nargs="+", default=list(CHEAP))
    p.add_argument("--kinds", nargs="+", default=list(KINDS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2, help="trainings at a time")
    p.add_argument("--nice", type=int, default=10)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("pack", help="copy finished runs into the zoo (safetensors + JSON) and write its manifest")
    p.add_argument("--families", nargs="+", default=list(CHEAP) + ["hopper"])
    p.add_argument("--zoo", default=str(ROOT / "experiments" / "zoo"))
    p.add_argument("--force", action="store_true", help="re-pack entries already in the manifest")
    p.set_defaults(func=cmd_pack)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
