"""Run an experiment: train each source once per seed, then every (target, method, seed) cell.

Layout written under ``OUT`` (read by :mod:`simtransfer.experiments.report`, documented in ``docs/metrics.md``)::

    OUT/experiment.yaml                              the resolved experiment config
    OUT/sources/seed<k>/                             source run dirs (+ job.json when finished)
    OUT/sources/<name>/seed<k>/                      run dirs of the named ``sources`` (nominal, dr, adr, ...)
    OUT/cells/<target>/<method>/seed<k>/             one normal run dir per cell (+ cell.json when finished)
    OUT/cells/<target>/random/seed<k>/eval.json      random-policy return (normalisation reference)
    OUT/report/                                      report.md, CSV/JSON tables, PNG plots

Resumable: a finished job has its marker file and is skipped on a re-run; a source killed mid-training
continues from its last checkpoint; an unfinished cell is redone from scratch. Jobs run in-process
(``workers=1``), in a local process pool (``workers>1``) or as Ray tasks (``ray_address``).

>>> from simtransfer.experiments.runner import run_experiment                       # doctest: +SKIP
>>> run_experiment("experiments/configs/quickstart.yaml", "results/quickstart", workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simtransfer.agents.config import load_train_config
from simtransfer.agents.evaluation import RandomPolicy, run_episodes, summarize
from simtransfer.agents.policy_io import atomic_write_bytes, atomic_write_json
from simtransfer.agents.rundirs import disk_errors, locked
from simtransfer.agents.tracking import share_offline_fallback
from simtransfer.agents.train import config_changes, train
from simtransfer.agents.zoo import zoo_source
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import make_env
from simtransfer.envs.yaml_io import load_yaml
from simtransfer.experiments.calibration_stage import calibrated_config, run_calibration
from simtransfer.experiments.executors import Backend, InProcess, Pool, RayTasks, start_ray, stop_ray
from simtransfer.experiments.experiment import ExperimentConfig, load_experiment, parse_experiment
from simtransfer.experiments.fingerprints import fingerprint, prune_unplanned, reset_stale
from simtransfer.experiments.jobs import (  # noqa: F401  (Job, plan, is_done, source_dir: importable from here as before)
    DONE,
    Job,
    is_done,
    method_options,
    plan,
    source_config,
    source_dir,
    tracking_overrides,
)
from simtransfer.experiments.report import build_report, log_report_to_wandb, print_table
from simtransfer.experiments.video import record_experiment_videos
from simtransfer.experiments.worst_case_stage import run_cell_worst_case
from simtransfer.transfer.api import transfer
from simtransfer.transfer.methods import get_method


def _run_source(cfg: ExperimentConfig, job: Job) -> dict[str, Any]:
    run_dir = Path(job.out_dir)
    out = run_dir.parents[1 if job.source is None else 2]  # OUT/sources[/<name>]/seed<k>
    if cfg.source_config(job.source).zoo is not None:  # a shipped source: copied (sha256-checked), not trained
        return zoo_source(cfg.source_config(job.source).zoo, job.seed, run_dir)
    config = calibrated_config(cfg, source_config(cfg, job.seed, job.source), job.source, out)
    resumable = (run_dir / "config.yaml").is_file() and any((run_dir / "checkpoints").glob("*"))
    if resumable:  # a killed source continues, unless its config changed since (then it starts over)
        old = load_train_config(run_dir / "config.yaml", use_defaults=False)
        resumable = not [k for k in config_changes(old, config) if k.split(".")[0] not in ("tracking", "progress")]
    if resumable:
        result = train(None, run_dir, resume=True)
    else:
        result = train(config, run_dir, force=True)
    final = {k: v.mean_return for k, v in result.final.items()}
    return {"final": final, "resumed": resumable}


def _run_random(cfg: ExperimentConfig, job: Job) -> dict[str, Any]:
    """Mean return of uniformly random actions on the target: the low end of every normalisation."""
    target = next(t for t in cfg.targets if t.name == job.target)
    env = make_env(target.env, seed=job.seed)
    try:
        returns, lengths = run_episodes(env, RandomPolicy(env.action_space, seed=job.seed),
                                        episodes=cfg.budget.random_episodes, seed=1_000_000 + 1000 * job.seed)
    finally:
        env.close()
    summary = summarize(target.name, returns, lengths).to_dict()
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    atomic_write_json(out / "eval.json", {"curves": {}, "final": {target.name: summary}})
    return {"final": {target.name: summary["mean_return"]}}


def _run_cell(cfg: ExperimentConfig, job: Job) -> dict[str, Any]:
    target = next(t for t in cfg.targets if t.name == job.target)
    method, options = method_options(cfg, job)
    source = source_dir(Path(job.out_dir).parents[3], job.source, job.seed)  # out_dir: OUT/cells/<t>/<m>/seed<k>
    b = cfg.budget
    overrides = tracking_overrides(cfg) + [
        f"eval.every={b.eval_every}", f"eval.episodes={b.eval_episodes}",
        f"eval.final_episodes={b.final_episodes}", "checkpoint_every=0",
        "eval.stop_at=null",  # every cell uses its whole budget: the curves are compared step for step
    ]
    result = transfer([source], target.env, method, out_dir=job.out_dir,
                      timesteps=target.timesteps or b.timesteps, seed=job.seed, options=options,
                      overrides=overrides, force=True, quiet=True)
    final = {k: v.get("mean_return") for k, v in (result.final or {}).items()}
    if cfg.worst_case is not None:  # optional: a small CMA-ES search of the target's parameters (docs/worst_case.md)
        return {"final": final, "worst_case": run_cell_worst_case(cfg.worst_case, job.out_dir, target.env, job.seed)}
    return {"final": final}


_RUNNERS: dict[str, Callable[[ExperimentConfig, Job], dict[str, Any]]] = {
    "source": _run_source, "random": _run_random, "cell": _run_cell}


def run_job(cfg_dict: dict[str, Any], job_dict: dict[str, Any]) -> dict[str, Any]:
    """Execute one job (in this process, a pool worker or a Ray worker) and write its marker file.
    A full disk is a :class:`SimtransferError`, which stops the whole run (not one failed cell per job)."""
    with disk_errors():
        return _run_job(cfg_dict, job_dict)


def _run_job(cfg_dict: dict[str, Any], job_dict: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("WANDB_SILENT", "true")
    cfg = parse_experiment(cfg_dict, source="experiment")
    job = Job(**job_dict)
    fp = fingerprint(cfg, job)
    t0, cpu0 = time.perf_counter(), time.process_time()
    info = _RUNNERS[job.kind](cfg, job)
    # CPU time: what the job costs independently of how busy the machine was (wall time is not)
    marker = {"status": DONE, "kind": job.kind, "seed": job.seed, "wall_time_s": round(time.perf_counter() - t0, 2),
              "cpu_time_s": round(time.process_time() - cpu0, 2), "fingerprint": fp, **info}
    if job.kind == "cell":
        target = next(t for t in cfg.targets if t.name == job.target)
        mcfg = next(m for m in cfg.all_methods() if m.label == job.method)
        marker.update(target=job.target, method=job.method, method_name=mcfg.method,
                      threshold=target.threshold if target.threshold is not None else cfg.threshold)

    atomic_write_json(job.marker, marker)
    return {"job": job_dict, **marker}


# ------------------------------------------------------------------------------------------ executors
def _execute(backend: Backend, sources: list[Job], cells: list[Job], done_sources: set[tuple[str | None, int]],
             on_done: Callable[[Job, dict[str, Any] | BaseException], None]) -> list[Job]:
    """Run every job, each cell as soon as its (source, seed) is finished (no barrier between phases).
    ``done_sources`` holds the (source name, seed) pairs finished earlier. Returns the cells that could not
    run because their source failed."""
    waiting: dict[tuple[str | None, int], list[Job]] = {}
    running = 0
    for job in sources:
        backend.submit(job)
        running += 1
    for job in cells:
        if job.kind == "random" or (job.source, job.seed) in done_sources:
            backend.submit(job)
            running += 1
        else:
            waiting.setdefault((job.source, job.seed), []).append(job)
    orphans: list[Job] = []
    while running:
        job, result = backend.wait()
        running -= 1
        on_done(job, result)
        if job.kind == "source":
            for cell in waiting.pop((job.source, job.seed), []):
                if isinstance(result, BaseException):
                    orphans.append(cell)
                else:
                    backend.submit(cell)
                    running += 1
    return orphans + [j for jobs in waiting.values() for j in jobs]


# ------------------------------------------------------------------------------------------- driver
@dataclass
class RunSummary:
    """What :func:`run_experiment` did: where, how many jobs ran or were skipped, which failed."""

    out_dir: Path
    ran: int
    skipped: int
    failed: list[str]
    wall_time_s: float


def _write_experiment_yaml(cfg: ExperimentConfig, out: Path, force: bool) -> bool:
    """Record the experiment; refuse to mix results of a different experiment into ``out`` (unless
    ``force``). True when ``out`` held a different experiment config."""
    path = out / "experiment.yaml"
    text = yaml.safe_dump(cfg.model_dump(mode="json", exclude={"base_dir"}), sort_keys=False)
    changed = False
    if path.is_file():
        new = yaml.safe_load(text)
        try:  # re-validate the old record so that fields added since it was written compare at their defaults
            old = parse_experiment(load_yaml(path) or {}, source=str(path)).model_dump(mode="json")
        except SimtransferError:  # unreadable, alias-bombed or invalid: a different experiment
            old = {}
        keep = ("name", "source", "sources", "targets", "methods", "budget", "threshold", "calibration")
        changed = {k: old.get(k) for k in keep} != {k: new.get(k) for k in keep}
        if changed and not force:
            raise SimtransferError(f"{out} holds results of a different experiment config (compare "
                                   f"{path}); use another --out, or --force to redo what changed")

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode())
    return changed


def run_experiment(experiment: str | Path | ExperimentConfig, out_dir: str | Path | None = None, *,
                   workers: int = 1, ray_address: str | None = None, force: bool = False,
                   report: bool = True, log: Callable[[str], None] | None = None) -> RunSummary:
    """Run (or continue) every job of ``experiment`` into ``out_dir``, then write the report."""
    cfg = experiment if isinstance(experiment, ExperimentConfig) else load_experiment(experiment)
    if workers < 1:
        raise SimtransferError(f"--workers must be ≥ 1, got {workers}")
    out = Path(out_dir) if out_dir is not None else Path("results") / cfg.name
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    _validate_targets(cfg)
    # Ray before anything is written: a bad --ray address must not leave an output directory behind
    started_ray = start_ray(ray_address, workers) if ray_address is not None else False
    try:
        with disk_errors(), locked(out):
            return _run_locked(cfg, out, workers, ray_address, force, report, say)
    finally:
        stop_ray(started_ray)


def _run_locked(cfg: ExperimentConfig, out: Path, workers: int, ray_address: str | None, force: bool,
                report: bool, say: Callable[[str], None]) -> RunSummary:
    changed = _write_experiment_yaml(cfg, out, force)
    share_offline_fallback(out)  # one W&B online failure switches every later job to offline (workers inherit it)
    source_jobs, cell_jobs = plan(cfg, out)
    fps = {j: fingerprint(cfg, j) for j in source_jobs + cell_jobs}
    prune_unplanned(out, source_jobs + cell_jobs, say)
    reset_stale(source_jobs + cell_jobs, fps, legacy_ok=not changed, say=say)
    t0 = time.perf_counter()
    run_calibration(cfg, out, say)  # collect -> calibrate (once; skipped when done) before any source trains
    todo_src = [j for j in source_jobs if not is_done(j, fps[j])]
    todo_cells = [j for j in cell_jobs if not is_done(j, fps[j])]
    total = len(todo_src) + len(todo_cells)
    skipped = len(source_jobs) + len(cell_jobs) - total
    say(f"simtransfer run: {cfg.name}: {len(source_jobs)} sources, {len(cell_jobs)} target jobs "
        f"({skipped} already done), {workers} worker(s){' on Ray' if ray_address else ''} → {out}")
    failed: list[str] = []
    counter = {"n": 0}

    def on_done(job: Job, res: dict[str, Any] | BaseException) -> None:
        counter["n"] += 1
        if isinstance(res, BaseException):
            failed.append(job.title)
            say(f"[{counter['n']}/{total}] {job.title} FAILED: {type(res).__name__}: {res}")
            return
        scores = ", ".join(f"{k} {v:.1f}" for k, v in (res.get("final") or {}).items() if isinstance(v, int | float))
        say(f"[{counter['n']}/{total}] {job.title} done in {res['wall_time_s']:.0f} s" + (f": {scores}" if scores else ""))

    cfg_dict = cfg.model_dump(mode="json")
    backend: Backend | None = None
    try:
        if total:
            backend = (RayTasks(run_job, cfg_dict) if ray_address is not None else
                       Pool(run_job, cfg_dict, workers) if workers > 1 else InProcess(run_job, cfg_dict))
            done_sources = {(j.source, j.seed) for j in source_jobs if is_done(j, fps[j])}
            orphans = _execute(backend, todo_src, todo_cells, done_sources, on_done)
            failed += [j.title + " (source failed)" for j in orphans]
    finally:
        if backend is not None:
            backend.close()
    if cfg.video is not None:  # clips of one seed's finished cells (kept while a cell is unchanged)
        try:
            record_experiment_videos(cfg, out, cell_jobs, say)
        except SimtransferError as exc:  # the results are on disk; a clip that cannot be filmed is one warning
            say(f"simtransfer: warning: videos skipped: {exc}")
    summary = RunSummary(out, total - len(failed), skipped, failed, time.perf_counter() - t0)
    if report and any(is_done(j, fps[j]) for j in cell_jobs if j.kind == "cell"):
        rep = build_report(out)
        print_table(rep.summaries)
        say(f"report: {rep.files['markdown']}")
        mode = os.environ.get("WANDB_MODE", cfg.tracking)
        if mode != "disabled":
            log_report_to_wandb(out, mode)
    say(f"simtransfer run: {summary.ran} job(s) run, {summary.skipped} skipped, {len(failed)} failed "
        f"in {summary.wall_time_s:.0f} s → {out}")
    return summary


def _validate_targets(cfg: ExperimentConfig) -> None:
    """Fail fast, before any training, on a target id that does not exist or a method that is unknown."""
    for m in cfg.all_methods():
        get_method(m.method).parse_options(m.options)
    for t in cfg.targets:
        make_env(t.env).close()


def iter_jobs(cfg: ExperimentConfig, out: Path) -> Iterable[Job]:
    """Every job of the experiment in execution order (sources first)."""
    sources, cells = plan(cfg, out)
    yield from sources
    yield from cells
