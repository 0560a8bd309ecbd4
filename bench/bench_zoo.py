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
KINDS = ("nominal", "dr", "adr", "history")
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
    """Add one invocation's wall and CPU time to ``timing.json`` (a resumed run accumulates)."""
    with _LOCK, (RUNS / ".timing.lock").open("a") as lock:  # threads here, other driver processes there
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = RUNS / "timing.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        old = data.get(key)
        if old and entry.get("resumed"):
            entry = {**entry, "wall_s": round(old["wall_s"] + entry["wall_s"], 1),
                     "cpu_s": round(old["cpu_s"] + entry["cpu_s"], 1), "invocations": old.get("invocations", 1) + 1,
                     "killed": bool(old.get("killed") or entry.get("killed"))}
        data[key] = entry
        path.write_text(json.dumps(data, indent=2, sort_keys=True))


def _killed_invocation(out: Path) -> dict[str, Any]:
    """What a run killed before its driver could record it spent: SB3's ``time/time_elapsed`` (wall seconds of
    its learn call, from ``progress.csv``); its CPU time is unknown (counted as 0)."""
    import csv

    with (out / "progress.csv").open() as fh:
        elapsed = [float(r["time/time_elapsed"]) for r in csv.DictReader(fh) if r.get("time/time_elapsed")]
    return {"wall_s": max(elapsed, default=0.0), "cpu_s": 0.0, "killed": True}


def train_one(family: str, kind: str, seed: int, config: Path, nice: int, sets: list[str] | None = None) -> str:
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
        if sets:  # e.g. a smaller total_timesteps to finish a run that cannot get its whole budget here
            cmd += ["--allow-config-change", *[a for kv in sets for a in ("--set", kv)]]
        timing = json.loads((RUNS / "timing.json").read_text()) if (RUNS / "timing.json").is_file() else {}
        if key not in timing and (out / "progress.csv").is_file():
            _record_timing(key, {**_killed_invocation(out), "config": str(config.relative_to(ROOT))})
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
        for line in pool.map(lambda j: train_one(*j, nice=args.nice, sets=args.set), jobs):
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
        "train_wall_s": timing.get("wall_s"),
        "train_cpu_s": None if timing.get("killed") else timing.get("cpu_s"),  # a killed invocation's CPU is unknown
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


# ---------------------------------------------------------------------------------------------- measuring
# The bar each family's source must reach on nominal physics (docs/zoo.md). "solved": the reward_threshold that
# pybullet_envs registers for the Bullet task; locomotion: 80% of RL Zoo's published PPO score (rl-baselines3-zoo
# benchmark.md, one run, 2M steps). References, not measurements: the measured returns come from the zoo.
REFERENCES: dict[str, dict[str, Any]] = {
    "pendulum": {"task": "InvertedPendulumBulletEnv-v0", "bar": 950.0, "basis": "solved"},
    "double_pendulum": {"task": "InvertedDoublePendulumBulletEnv-v0", "bar": 9100.0,
                        "basis": "solved"},
    "reacher": {"task": "ReacherBulletEnv-v0", "bar": 18.0, "basis": "solved",
                "rl_zoo_ppo": 17.091, "rl_zoo_steps": 1_000_000},
    "hopper": {"task": "HopperBulletEnv-v0", "bar": 0.8 * 2575.054, "basis": "80% of RL Zoo PPO",
               "rl_zoo_ppo": 2575.054, "rl_zoo_steps": 2_000_000, "locomotion": True},
    "half_cheetah": {"task": "HalfCheetahBulletEnv-v0", "bar": 0.8 * 2924.721, "basis": "80% of RL Zoo PPO",
                     "rl_zoo_ppo": 2924.721, "rl_zoo_steps": 2_000_000, "locomotion": True},
    "lunar_lander": {"task": "LunarLander-v3", "bar": 200.0, "basis": "solved"},
}


def group_verdict(family: str, returns: list[float]) -> str:
    """competent: every seed at or above the bar; a locomotion family below it is smoke-level."""
    bar = REFERENCES[family]["bar"]
    if returns and min(returns) >= bar:
        return "competent"
    return "smoke-level" if REFERENCES[family].get("locomotion") else "below bar"


def cmd_measure(args: argparse.Namespace) -> int:
    """bench/results/zoo.json from the shipped zoo: per entry its nominal return (the final evaluation that
    `simtransfer train` recorded) and training time, per family/kind the IQM over seeds with a bootstrap CI."""
    from machine import measured

    from simtransfer.agents.zoo import read_manifest
    from simtransfer.transfer.stats import bootstrap_iqm

    record: dict[str, Any] = {}
    with measured(record):
        zoo = Path(args.zoo)
        entries = []
        for key in read_manifest(zoo)["entries"]:
            info = json.loads((zoo / key / "zoo.json").read_text())
            nominal = info["final"]["nominal"]
            entries.append({k: info.get(k) for k in ("family", "kind", "seed", "timesteps", "stopped_early",
                                                      "train_wall_s", "train_cpu_s", "commit", "git_dirty",
                                                      "config")}
                           | {"key": key, "nominal_return": nominal["mean_return"],
                              "nominal_episodes": nominal["episodes"], "check_return": info["check"]["mean_return"],
                              "size_bytes": sum(p.stat().st_size for p in (zoo / key).iterdir())})
        groups = []
        for family, kind in sorted({(e["family"], e["kind"]) for e in entries}):
            rows = sorted((e for e in entries if (e["family"], e["kind"]) == (family, kind)), key=lambda e: e["seed"])
            returns = [e["nominal_return"] for e in rows]
            est = bootstrap_iqm(returns, seed=0)
            groups.append({"family": family, "kind": kind, "seeds": [e["seed"] for e in rows], "returns": returns,
                           "iqm": est.value, "low": est.low, "high": est.high,
                           "bar": REFERENCES[family]["bar"], "at_bar": sum(r >= REFERENCES[family]["bar"] for r in returns),
                           "verdict": group_verdict(family, returns),
                           "timesteps": [e["timesteps"] for e in rows],
                           "cpu_s": [e["train_cpu_s"] for e in rows], "wall_s": [e["train_wall_s"] for e in rows]})
        # the tuning study and the superseded runs live where the zoo was built (bench/.zoo_runs, .zoo_old_runs):
        # a re-measure elsewhere keeps their earlier record instead of dropping it
        previous = json.loads((RESULTS / "zoo.json").read_text()) if (RESULTS / "zoo.json").is_file() else {}
        configured = [f"{f}/{k}" for (f, k) in zoo_configs()]
        shipped = {f"{g['family']}/{g['kind']}": len(g["seeds"]) for g in groups}
        data = {"references": REFERENCES, "entries": entries, "groups": groups,
                "missing": {fk: 3 - shipped.get(fk, 0) for fk in configured if shipped.get(fk, 0) < 3},
                "planned_steps": {f"{f}/{k}": _planned_steps(p) for (f, k), p in zoo_configs().items()},
                "untrained_families": sorted(set(REFERENCES) - {e["family"] for e in entries}),
                "tune": _tune_summary() or previous.get("tune"), "zoo_bytes": sum(e["size_bytes"] for e in entries),
                "superseded": _superseded() or previous.get("superseded", [])}
        data["estimate"] = _estimate(data)
        data["suite_sources"] = _suite_sources()
    data.update(record)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "zoo.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(f"wrote {RESULTS / 'zoo.json'}: {len(entries)} entries", flush=True)
    return 0


def _estimate(data: dict[str, Any]) -> dict[str, Any]:
    """What the full zoo would cost, from the measured runs: per configured family/kind, 3 seeds x the mean
    CPU seconds of its shipped runs (runs that stop early make this a lower bound); locomotion (3 kinds x 3 seeds
    x RL Zoo's 2M steps) from the hopper run's wall seconds per step (its CPU time is unknown)."""
    out: dict[str, Any] = {"per_kind": {}, "locomotion": None}
    for fk in data["planned_steps"]:
        g = next((g for g in data["groups"] if f"{g['family']}/{g['kind']}" == fk), None)
        cpu = [c for c in (g["cpu_s"] if g else []) if c]
        out["per_kind"][fk] = {"cpu_s_per_run": sum(cpu) / len(cpu) if cpu else None, "runs": 3,
                               "cpu_min": 3 * sum(cpu) / len(cpu) / 60 if cpu else None}
    hop = next((g for g in data["groups"] if g["family"] == "hopper"), None)
    if hop and hop["wall_s"][0]:
        per_step = hop["wall_s"][0] / hop["timesteps"][0]
        steps = REFERENCES["hopper"]["rl_zoo_steps"]
        out["locomotion"] = {"wall_s_per_step": per_step, "steps_per_run": steps, "runs_per_family": 9,
                             "wall_h_per_family": per_step * steps * 9 / 3600, "families": ["hopper", "half_cheetah"]}
    return out


def _suite_sources() -> list[dict[str, Any]]:
    """For comparison: the nominal returns of the sources the benchmark suite trains itself (its robustness
    records in bench/results/suite.json), per family and source, against the same bars."""
    from simtransfer.transfer.stats import bootstrap_iqm

    path = RESULTS / "suite.json"
    out = []
    for fam in json.loads(path.read_text()) if path.is_file() else []:
        if fam["family"] not in REFERENCES:
            continue
        for rec in fam.get("robustness") or []:
            est = bootstrap_iqm(rec["nominal"], seed=0)
            bar = REFERENCES[fam["family"]]["bar"]
            out.append({"family": fam["family"], "source": rec["source"], "config": fam["config"],
                        "returns": rec["nominal"], "iqm": est.value, "low": est.low, "high": est.high,
                        "at_bar": sum(r >= bar for r in rec["nominal"]),
                        "verdict": group_verdict(fam["family"], rec["nominal"])})
    return out


OLD_RUNS = ROOT / "bench" / ".zoo_old_runs"


def _superseded() -> list[dict[str, Any]]:
    """Runs trained with an earlier zoo config and replaced (``bench/.zoo_old_runs/<name>/``): their recorded
    nominal return, so the reason for the change stays visible."""
    out = []
    for run in sorted(p for p in OLD_RUNS.glob("*") if (p / "eval.json").is_file()):
        meta = json.loads((run / "metadata.json").read_text())
        final = json.loads((run / "eval.json").read_text())["final"]
        nominal = next((v for k, v in final.items() if k.endswith("Nominal-v0")), final.get("train"))
        out.append({"name": run.name, "timesteps": meta.get("num_timesteps"), "env": meta["env"]["id"],
                    "nominal_return": nominal["mean_return"], "episodes": nominal["episodes"]})
    return out


def _planned_steps(config: Path) -> int:
    from simtransfer.experiments.config import load_train_config

    return load_train_config(config).total_timesteps


# ---------------------------------------------------------------------------------------------- tuning
TUNE_DIR = ROOT / "bench" / ".zoo_runs" / "tune"
TUNED = ROOT / "experiments" / "configs" / "tuned"


def _tune_summary() -> dict[str, Any] | None:
    out = {}
    for path in sorted(TUNE_DIR.glob("*/tune.json")):
        out[path.parent.name] = json.loads(path.read_text())
        timing = path.with_name("timing.json")
        if timing.is_file():
            out[path.parent.name]["timing"] = json.loads(timing.read_text())["invocations"]
    return out or None


def cmd_tune(args: argparse.Namespace) -> int:
    """`simtransfer tune` on experiments/configs/tuned/<family>_tune.yaml, then the chosen options to
    experiments/configs/tuned/<family>.yaml (generated: the suite's methods can use them)."""
    cli = Path(sys.executable).with_name("simtransfer")
    out = TUNE_DIR / args.family
    cmd = ["nice", "-n", str(max(0, args.nice - os.nice(0))), str(cli), "tune",
           str(TUNED / f"{args.family}_tune.yaml"), "--method", args.method, "--trials", str(args.trials),
           "--out", str(out), "--target", args.target, "--sampler-seed", "0"]
    for p in args.param:
        cmd += ["--param", p]
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true"}
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return 1
    summary = json.loads((out / "tune.json").read_text())
    timing_path = out / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"invocations": []}
    timing["invocations"].append({"wall_s": round(time.time() - t0, 1),
                                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "trials": args.trials})
    timing_path.write_text(json.dumps(timing, indent=1) + "\n")
    best = summary["best"]
    lines = [f"# Tuned options for the {args.family} family: generated by `python bench/bench_zoo.py tune "
             f"--family {args.family}` from", f"# {out.relative_to(ROOT)}/tune.json (do not edit by hand). "
             f"{len(summary['trials'])} Optuna TPE trials (sampler seed {summary['seed']}), each "
             f"{len(summary['seeds'])} seeds x {summary['budget_timesteps']} target steps on '{summary['target']}',",
             f"# objective: IQM {summary['metric']} return {best['value']:.1f} for the chosen options "
             "(95% CI in bench/results/zoo.md).",
             "# Use: copy the entry into an experiment's methods (e.g. experiments/configs/suite/pendulum.yaml)."]
    method = {"method": summary["method"], "label": f"{summary['method']}_tuned",
              "options": {**summary["base_options"], **best["options"]}}
    (TUNED / f"{args.family}.yaml").write_text("\n".join(lines) + "\n" + yaml_dump({"methods": [method]}))
    print(f"best: {best}", flush=True)
    return 0


def yaml_dump(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("train", help="train every zoo config x seed with `simtransfer train`")
    p.add_argument("--families", nargs="+", default=list(CHEAP))
    p.add_argument("--kinds", nargs="+", default=list(KINDS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2, help="trainings at a time")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with a killed run: resume it with this config change (e.g. total_timesteps=100000)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("pack", help="copy finished runs into the zoo (safetensors + JSON) and write its manifest")
    p.add_argument("--families", nargs="+", default=list(CHEAP) + ["hopper"])
    p.add_argument("--zoo", default=str(ROOT / "experiments" / "zoo"))
    p.add_argument("--force", action="store_true", help="re-pack entries already in the manifest")
    p.set_defaults(func=cmd_pack)
    p = sub.add_parser("measure", help="bench/results/zoo.json from the shipped zoo (no training)")
    p.add_argument("--zoo", default=str(ROOT / "experiments" / "zoo"))
    p.set_defaults(func=cmd_measure)
    p = sub.add_parser("tune", help="simtransfer tune on experiments/configs/tuned/<family>_tune.yaml")
    p.add_argument("--family", default="pendulum")
    p.add_argument("--method", default="finetune")
    p.add_argument("--target", default="extrap")
    p.add_argument("--param", action="append", default=None)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--nice", type=int, default=10)
    p.set_defaults(func=cmd_tune)
    args = parser.parse_args(argv)
    if getattr(args, "param", "") is None:
        args.param = ["learning_rate=1e-5:1e-3:log", "pull_coef=0.1:100:log"]
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
