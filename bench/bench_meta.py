"""Meta-RL (RL²) vs a DR+history policy on held-out pendulum physics: does the return rise within a trial?

Per seed ``s`` (resumable: finished runs in ``runs/bench_meta/`` are kept), three policies are trained with the
project's own ``simtransfer train`` on the same randomized pendulum (``experiments/configs/meta/``: motor gain
0.3-3x, actuation delay 0-3 steps, 300-step episodes):

* **rl2**: RecurrentPPO on trials of K=3 episodes of one sampled physics (envs/trial.py), LSTM state kept across
  the trial;
* **dr_history**: PPO with the last 4 observations and actions in the observation (memory within an episode);
* **oracle**: PPO with the true parameters in the observation (ContextObservation): what identifying the
  physics is worth at this budget.

Each is meta-tested with ``simtransfer evaluate RUN --trial-episodes K --json`` on the held-out split
(``target_extrap.yaml``: gain 0.15-0.3x or 3-5x), on delays beyond training (``target_delay.yaml``: 4-5 steps)
and on the training distribution: ``--trials`` trials (reset seeds ``10000 + i``; results kept beside each run
as ``meta_test_<target>_k<K>_n<trials>.json`` — delete them after editing a target), the return per episode index of the trial. Reactive policies play the same K episodes of the
same physics with their memory reset at every episode. Statistics (transfer/stats.py): IQM over seeds of each
seed's mean over trials, 95% bootstrap intervals over seeds; the last − first difference also with a bootstrap
over trials stratified by seed.

    python bench/bench_meta.py                  # default: 3 seeds x 40k steps, 8 trials (a loaded 2-core box)
    python bench/bench_meta.py --full           # 5 seeds x 150k steps, 20 trials
    python bench/bench_meta.py --quick          # smoke: 1 seed x 2k steps

``bench/render.py`` renders ``bench/results/meta.md`` (and its section in docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import measured  # noqa: E402

from simtransfer.envs.yaml_io import load_yaml  # noqa: E402
from simtransfer.transfer.metrics import few_shot_from_adaptation  # noqa: E402
from simtransfer.transfer.stats import bootstrap_iqm, iqm, stratified_bootstrap  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
WORK = ROOT / "runs" / "bench_meta"
CONFIGS = ROOT / "experiments" / "configs" / "meta"
VARIANTS = ("rl2", "dr_history", "oracle")
TARGETS = {"extrap": "target_extrap.yaml", "delay": "target_delay.yaml", "train": "target_train.yaml"}
CLI = [sys.executable, "-m", "simtransfer.experiments.cli"]


def _run(cmd: list[str], log: Path) -> str:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(["nice", "-n", "5", *cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=fh, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)} (log: {log})")
    return proc.stdout


def _finished(out: Path) -> bool:
    """A training run that ended: its eval.json has the final evaluation (periodic ones are written before)."""
    try:
        return bool(json.loads((out / "eval.json").read_text()).get("final"))
    except (OSError, ValueError):
        return False


def _wait_while_in_use(out: Path) -> None:
    """Wait while another simtransfer process holds the run directory (an earlier bench invocation still training)."""
    from filelock import FileLock, Timeout

    while (out / ".lock").is_file():
        try:
            with FileLock(str(out / ".lock"), timeout=0):
                return
        except Timeout:
            time.sleep(15)


def train_one(variant: str, seed: int, timesteps: int) -> dict[str, Any]:
    """``simtransfer train`` (skipped when the run already finished); returns its wall time and eval curve."""
    out = WORK / f"{variant}_t{timesteps}_s{seed}"
    log = WORK / f"{variant}_t{timesteps}_s{seed}.log"
    _wait_while_in_use(out)
    t0, wall = time.perf_counter(), None
    if not _finished(out):
        _run([*CLI, "train", str(CONFIGS / f"{variant}.yaml"), "--out", str(out), "--force",
              "--set", f"seed={seed}", "--set", f"total_timesteps={timesteps}"], log)
        wall = round(time.perf_counter() - t0, 1)
    evals = json.loads((out / "eval.json").read_text())
    meta = json.loads((out / "metadata.json").read_text())
    return {"run": str(out.relative_to(ROOT)), "train_wall_s": wall,  # None: finished by an earlier invocation
            "train_time_s": round(float(meta.get("train_time_s") or 0.0), 1),  # the run's own, measured by train
            "num_timesteps": meta.get("num_timesteps"), "curve": evals.get("curves", {}).get("train")}


def target_file(target: str, context: bool) -> Path:
    """The target spec; for the oracle a copy with ``context_in_obs: true`` (it observes the parameters)."""
    path = CONFIGS / TARGETS[target]
    if not context:
        return path
    spec = load_yaml(path)
    spec["kwargs"] = {**spec.get("kwargs", {}), "context_in_obs": True}
    out = WORK / f"target_{target}_context.yaml"
    out.write_text(json.dumps(spec))
    return out


def meta_test(run: str, target: str, k: int, trials: int) -> dict[str, Any]:
    """``simtransfer evaluate RUN --trial-episodes K --json`` (kept beside the run: a re-run reads it back)."""
    cached = ROOT / run / f"meta_test_{target}_k{k}_n{trials}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    context = Path(run).name.startswith("oracle")
    out = _run([*CLI, "evaluate", str(ROOT / run), "--target", str(target_file(target, context)), "--trial-episodes",
                str(k), "--episodes", str(trials), "--seed", "10000", "--json"], WORK / "evaluate.log")
    result = json.loads(out.strip().splitlines()[-1])
    cached.write_text(json.dumps(result) + "\n")
    return result


def _est(x: list[float] | np.ndarray) -> dict[str, Any]:
    e = bootstrap_iqm(np.asarray(x, dtype=float))
    return e.to_dict() if len(x) > 1 else {**e.to_dict(), "low": None, "high": None}


def summarize(cells: dict[str, dict[int, dict[str, Any]]], target: str, k: int) -> dict[str, Any]:
    """Per variant: curve (IQM per episode index), last − first, few-shot@k; RL² last vs DR+history."""
    out: dict[str, Any] = {}
    for variant, by_seed in cells.items():
        seeds = sorted(by_seed)
        returns = [np.asarray(by_seed[s]["meta_test"][target]["returns"], dtype=float) for s in seeds]  # (trials, K)
        per_seed = np.stack([r.mean(axis=0) for r in returns])  # (seeds, K)
        diffs = [r[:, -1] - r[:, 0] for r in returns]
        out[variant] = {
            "seeds": seeds,
            "per_seed_curve": per_seed.tolist(),
            "curve": [_est(per_seed[:, i]) for i in range(k)],
            "last_minus_first": _est(per_seed[:, -1] - per_seed[:, 0]),
            "last_minus_first_trials": stratified_bootstrap(
                diffs, lambda *a: np.mean(np.concatenate(a, axis=-1), axis=-1)).to_dict(),
            "few_shot": [_est([few_shot_from_adaptation(c, i + 1) for c in per_seed]) for i in range(k)],
            "mean_over_trial": _est(per_seed.mean(axis=1)),
        }
    if "rl2" in cells and "dr_history" in cells:
        last = np.asarray([c[-1] for c in out["rl2"]["per_seed_curve"]])
        zero = np.asarray(out["dr_history"]["per_seed_curve"]).mean(axis=1)
        out["rl2_last_minus_dr_history"] = stratified_bootstrap(
            [last, zero], lambda a, b: iqm(a, axis=-1) - iqm(b, axis=-1)).to_dict()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (full setting: 5)")
    ap.add_argument("--timesteps", type=int, default=40_000, help="training steps per policy (full: 150000)")
    ap.add_argument("--trials", type=int, default=8, help="meta-test trials per run and target (full: 20)")
    ap.add_argument("--k", type=int, default=3, help="episodes per meta-test trial (RL² trains with 3)")
    ap.add_argument("--workers", type=int, default=3, help="training runs in parallel")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--oracle-seeds", type=int, default=None, help="seeds of the oracle (default: --seeds)")
    ap.add_argument("--full", action="store_true", help="5 seeds, 150k steps, 20 trials")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 2048 steps, 2 trials (not saved)")
    args = ap.parse_args(argv)
    if args.full:
        args.seeds, args.timesteps, args.trials = 5, 150_000, 20
    if args.quick:
        args.seeds, args.timesteps, args.trials = 1, 2048, 2
    WORK.mkdir(parents=True, exist_ok=True)
    oracle_seeds = args.seeds if args.oracle_seeds is None or args.full else min(args.oracle_seeds, args.seeds)
    record: dict[str, Any] = {"settings": {"seeds": args.seeds, "timesteps": args.timesteps, "trials": args.trials,
                                           "k": args.k, "variants": args.variants,
                                           "oracle_seeds": oracle_seeds,
                                           "configs": "experiments/configs/meta/",
                                           "targets": {t: f"experiments/configs/meta/{f}" for t, f in TARGETS.items()}}}
    jobs = [(v, s) for v in args.variants  # RL² (the slowest) first
            for s in range(oracle_seeds if v == "oracle" else args.seeds)]
    cells: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in args.variants}
    with measured(record):

        def one(job: tuple[str, int]) -> None:
            variant, seed = job
            cell = train_one(variant, seed, args.timesteps)
            cell["meta_test"] = {t: meta_test(cell["run"], t, args.k, args.trials) for t in TARGETS}
            cells[variant][seed] = cell
            print(f"bench_meta: {variant} seed {seed}: extrap per episode "
                  f"{[round(x) for x in cell['meta_test']['extrap']['mean_per_episode']]}", file=sys.stderr)

        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(one, jobs))
    record["cells"] = {v: {str(s): c for s, c in sorted(by.items())} for v, by in cells.items()}
    record["summary"] = {t: summarize(cells, t, args.k) for t in TARGETS}
    if args.quick:
        print(json.dumps(record["summary"]["extrap"], indent=1))
        return 0
    (RESULTS / "meta.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "render.py")], check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
