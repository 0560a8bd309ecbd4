"""Train one agent from a :class:`~simtransfer.agents.config.TrainConfig` into a run directory.

Run directory (docs/ARCHITECTURE.md): ``config.yaml``, ``policy.safetensors``, ``metadata.json``,
``model.zip`` (SB3 users only), ``progress.csv``, ``eval.json``, ``checkpoints/``, ``wandb/``.

>>> from simtransfer.agents.config import load_train_config
>>> from simtransfer.agents.train import train
>>> result = train(load_train_config("experiments/configs/inverted_pendulum.yaml"), "runs/ip")  # doctest: +SKIP
>>> result.final["train"].mean_return                                                           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import set_random_seed

from simtransfer.agents import checkpoint as ckpt
from simtransfer.agents.adr_callback import range_callbacks, range_state
from simtransfer.agents.algos import build_model
from simtransfer.agents.callbacks import (
    ParamsCallback,
    ProgressCallback,
    SafetensorsCheckpointCallback,
    TargetEvalCallback,
)
from simtransfer.agents.config import TrainConfig, load_train_config, resolve_train_config
from simtransfer.agents.evaluation import EvalResult
from simtransfer.agents.logs import ResumableCSVOutputFormat, merge_step_rows, read_rows
from simtransfer.agents.metadata import build_metadata
from simtransfer.agents.policy_io import (
    atomic_write_bytes,
    atomic_write_json,
    describe_space,
    save_weights,
    spaces_compatible,
)
from simtransfer.agents.rarl import protagonist_env_config, rarl_callback
from simtransfer.agents.rundirs import (
    check_clearable,
    clear_run_dir,
    disk_errors,
    is_empty,
    locked,
    remove_temp_files,
)
from simtransfer.agents.tracking import Tracker, WandbWriter
from simtransfer.agents.vecenv import (
    find_vec_normalize,
    make_single_env,
    make_training_env,
    multitask_eval_envs,
)
from simtransfer.envs.errors import SimtransferError

PrepareModel = Callable[[Any, Any], None]


@dataclass
class TrainResult:
    """What :func:`train` returns: where the run is and how it scored."""

    run_dir: Path
    num_timesteps: int
    wall_time_s: float
    fps: float
    final: dict[str, EvalResult] = field(default_factory=dict)
    curves: dict[str, dict[str, list]] = field(default_factory=dict)
    stopped_early: bool = False  # eval.stop_at was reached before total_timesteps
    learn_time_s: float = 0.0  # wall time of model.learn, callbacks included
    learn_cpu_s: float = 0.0  # CPU time of this process during model.learn (robust to other load)
    eval_time_s: float = 0.0  # periodic evaluation inside learn_time_s
    checkpoint_time_s: float = 0.0  # checkpoint writing inside learn_time_s
    already_finished: bool = False  # --resume found a complete run and changed nothing


def default_run_dir(config: TrainConfig, root: str | Path = "runs") -> Path:
    """``runs/{env}__{algo}__{seed}__{time}`` (or ``runs/{name}`` when the config names the run)."""
    if config.name:
        return Path(root) / config.name
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.env.display_name}__{config.algo}__{config.seed}__{stamp}"


def _coerce_config(config: TrainConfig | str | Path | dict[str, Any]) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_train_config(config)
    if isinstance(config, dict):
        return resolve_train_config(config, source="config")
    raise SimtransferError(f"bad config: expected a TrainConfig, a path or a mapping, got {type(config).__name__}")


def check_out_dir(run_dir: Path, force: bool, protect: list[Path] | None = None) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise SimtransferError(f"output path {run_dir} exists and is not a directory")
    if is_empty(run_dir):
        return
    if not force:
        raise SimtransferError(f"run directory {run_dir} is not empty (use --force to overwrite it, "
                               "or --resume to continue it)")
    check_clearable(run_dir, protect or [])


def _eval_envs(config: TrainConfig) -> dict[str, Any]:
    """One env per evaluation target, built before anything is written (a bad target id fails early)."""
    envs: dict[str, Any] = {}
    if config.multitask is not None:  # "train" mixes the tasks; one entry per task besides
        envs.update(multitask_eval_envs(config, seed=config.eval.seed))
    elif config.eval.train:
        envs["train"] = make_single_env(config.env, config.adapters, seed=config.eval.seed)
    for spec in config.eval.targets:
        name = spec.display_name
        if name in envs:
            raise SimtransferError(f"eval.targets: two targets are named '{name}' (set 'name' to tell them apart)")
        envs[name] = make_single_env(spec, config.adapters, seed=config.eval.seed)
    return envs


def _check_eval_spaces(model: Any, envs: dict[str, Any]) -> None:
    for name, env in envs.items():
        for what, exp, got in (("observation", model.observation_space, env.observation_space),
                               ("action", model.action_space, env.action_space)):
            bounds = what == "action"  # an action range other than the policy's is an error too
            if not spaces_compatible(exp, got, bounds=bounds):
                raise SimtransferError(f"eval target '{name}' has {what} space {describe_space(got, bounds)}, the "
                                       f"policy expects {describe_space(exp, bounds)} (add an adapter)")


def train(
    config: TrainConfig | str | Path | dict[str, Any] | None,
    out_dir: str | Path | None = None,
    *,
    force: bool = False,
    resume: bool = False,
    prepare_model: PrepareModel | None = None,
    extra_metadata: dict[str, Any] | None = None,
    allow_config_change: bool = False,
    protect: list[Path] | None = None,
    before_finish: Callable[[Path], None] | None = None,
) -> TrainResult:
    """Train per ``config`` into ``out_dir`` (default ``runs/{env}__{algo}__{seed}__{time}``).

    ``prepare_model(model, vec_env)`` runs once after the SB3 model is built and before learning (and, on
    resume, before the checkpoint is restored) — the seam transfer methods use to load, freeze or re-wire
    weights. ``extra_metadata`` is merged into metadata.json (e.g. ``{"lineage": {...}}``). With
    ``resume=True``, ``out_dir`` is an existing run continued with its own config.yaml: a ``config`` that
    differs from it is an error unless ``allow_config_change``; a finished run is left as it is.
    ``force`` clears only a simtransfer run directory that holds none of ``protect`` (source runs).
    ``before_finish(run_dir)`` writes further files just before metadata.json (which marks a complete run).
    The run directory is locked (``.lock``) for the whole call.
    """
    if resume:
        if out_dir is None:
            raise SimtransferError("--resume needs the run directory to continue")
        run_dir = Path(out_dir)
        if not (run_dir / "config.yaml").is_file():
            raise SimtransferError(f"cannot resume {run_dir}: it has no config.yaml")
        cfg = None
    else:
        if config is None:
            raise SimtransferError("train needs a config")
        cfg = _coerce_config(config)
        run_dir = Path(out_dir) if out_dir is not None else default_run_dir(cfg)
        if force and run_dir.is_dir():  # no lock file in a directory --force refuses to clear
            check_clearable(run_dir, protect or [])
    with disk_errors(), locked(run_dir):  # a second process fails here, before anything else
        if resume:
            return _resume(config, run_dir, prepare_model, extra_metadata, allow_config_change, before_finish)
        check_out_dir(run_dir, force, protect)
        return _train(cfg, run_dir, None, None, prepare_model, extra_metadata, before_finish)


def config_changes(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Dotted keys whose values differ between two resolved configs."""
    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(d, dict) and d:
            return {k: v for key, val in d.items() for k, v in flat(val, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): d}

    a, b = flat(old.model_dump(mode="json")), flat(new.model_dump(mode="json"))
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def is_finished(run_dir: Path, total_timesteps: int) -> bool:
    """metadata.json is written last: with it (and the weights it names) at ``total_timesteps`` (or stopped
    early) the run is complete."""
    try:
        meta = json.loads((run_dir / "metadata.json").read_text())
        data = (run_dir / "policy.safetensors").read_bytes()
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("weights_sha256") not in (None, hashlib.sha256(data).hexdigest()):
        return False
    return bool(meta.get("stopped_early")) or int(meta.get("num_timesteps") or 0) >= total_timesteps


def _resume(config: Any, run_dir: Path, prepare_model: PrepareModel | None, extra_metadata: dict[str, Any] | None,
            allow_config_change: bool, before_finish: Callable[[Path], None] | None) -> TrainResult:
    own = load_train_config(run_dir / "config.yaml", use_defaults=False)
    cfg = own
    if config is not None:
        cfg = _coerce_config(config)
        changed = config_changes(own, cfg)
        if changed and not allow_config_change:
            raise SimtransferError(f"the config given differs from {run_dir / 'config.yaml'} in {', '.join(changed[:4])}"
                                   f"{', ...' if len(changed) > 4 else ''}; --resume continues the run with its own "
                                   "config (pass --allow-config-change to continue it with the new one)")
    if is_finished(run_dir, cfg.total_timesteps):
        done = json.loads((run_dir / "metadata.json").read_text()).get("num_timesteps")
        print(f"simtransfer: {run_dir} is already finished ({done} steps); nothing to resume", file=sys.stderr,
              flush=True)
        ev = read_eval_json(run_dir)
        final = {k: EvalResult(target=k, episodes=v.get("episodes", 0), mean_return=v["mean_return"],
                               std_return=v.get("std_return", 0.0), returns=v.get("returns", []))
                 for k, v in (ev.get("final") or {}).items() if isinstance(v, dict) and "mean_return" in v}
        return TrainResult(run_dir=run_dir, num_timesteps=int(done or 0), wall_time_s=0.0, fps=0.0, final=final,
                           curves=ev.get("curves", {}), already_finished=True)
    remove_temp_files(run_dir)  # left by a killed process; this one holds the lock
    found = ckpt.latest_readable_checkpoint(run_dir / "checkpoints")
    if found is None:
        raise SimtransferError(f"cannot resume {run_dir}: no checkpoint in {run_dir / 'checkpoints'} (that reads back)")
    last, ckpt_meta = found
    if prepare_model is None and (ckpt_meta.get("extra", {}).get("metadata") or {}).get("lineage"):
        raise SimtransferError(f"{run_dir} is a transfer run: continue it with 'simtransfer transfer --resume "
                               f"{run_dir}' (it re-applies the transfer method before the checkpoint)")
    return _train(cfg, run_dir, last, ckpt_meta, prepare_model, extra_metadata, before_finish)


def _train(cfg: TrainConfig, run_dir: Path, last: Path | None, ckpt_meta: dict[str, Any] | None,
           prepare_model: PrepareModel | None, extra_metadata: dict[str, Any] | None,
           before_finish: Callable[[Path], None] | None) -> TrainResult:
    t_start = time.perf_counter()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    set_random_seed(cfg.seed)
    vec_env = make_training_env(protagonist_env_config(cfg))  # RARL: with the adversary's forces
    eval_envs: dict[str, Any] = {}
    rarl = None
    try:
        eval_envs = _eval_envs(cfg)
        model = build_model(cfg.algo, vec_env, hyperparams=cfg.hyperparams, policy=cfg.policy.model_dump(),
                            seed=cfg.seed, device=cfg.device)
        _check_eval_spaces(model, eval_envs)
        if prepare_model is not None:
            prepare_model(model, vec_env)
        rarl = rarl_callback(cfg, model, vec_env, run_dir, ckpt_meta)  # None without an adversary: block
        vec_norm = find_vec_normalize(vec_env)
        extra_state: dict[str, Any] = {}
        if last is not None:
            extra_state = ckpt.restore_checkpoint(last, model, vec_norm)["extra"]
            vec_env.seed(cfg.seed + model.num_timesteps)  # fresh episodes, not a replay of the first ones
        else:
            clear_run_dir(run_dir)  # --force: only now, after everything that can fail on bad input has run
        run_dir.mkdir(parents=True, exist_ok=True)
        return _run(cfg, run_dir, model, vec_env, vec_norm, eval_envs, extra_state=extra_state,
                    checkpoint_step=ckpt_meta["num_timesteps"] if ckpt_meta else None,
                    extra_metadata=extra_metadata, t_start=t_start, before_finish=before_finish, rarl=rarl)
    finally:
        if rarl is not None:
            rarl.close()
        for env in eval_envs.values():
            env.close()
        vec_env.close()


def _run(cfg: TrainConfig, run_dir: Path, model: Any, vec_env: Any, vec_norm: Any, eval_envs: dict[str, Any], *,
         extra_state: dict[str, Any], checkpoint_step: int | None, extra_metadata: dict[str, Any] | None,
         t_start: float, before_finish: Callable[[Path], None] | None = None, rarl: Any = None) -> TrainResult:
    resumed = checkpoint_step is not None
    atomic_write_bytes(run_dir / "config.yaml", cfg.to_yaml().encode())
    name = run_dir.name
    tc = cfg.tracking
    tracker = Tracker(mode=tc.mode, project=tc.project, entity=tc.entity, group=tc.group, tags=tc.tags,
                      system_metrics=tc.system_metrics)
    tracker.start(run_dir, cfg.model_dump(mode="json") | (extra_metadata or {}), name=name,
                  resume_id=extra_state.get("wandb_id"))  # extra_metadata: e.g. a transfer run's lineage

    header, rows = read_rows(run_dir / "progress.csv", checkpoint_step) if resumed else ([], [])
    outputs = [ResumableCSVOutputFormat(run_dir / "progress.csv", header, rows), WandbWriter(tracker)]
    model.set_logger(Logger(folder=str(run_dir), output_formats=outputs))

    curves: dict[str, dict[str, list]] = extra_state.get("curves", {})
    params_cb = ParamsCallback(extra_state.get("params_stats"))

    def on_eval(step: int, results: dict[str, EvalResult]) -> None:
        atomic_write_json(run_dir / "eval.json", {"curves": eval_cb.curves, "final": {}})
        tracker.log({f"eval/{k}/mean_return": r.mean_return for k, r in results.items()}, step=step)

    eval_cb = TargetEvalCallback(eval_envs, every=cfg.eval.every, episodes=cfg.eval.episodes, seed=cfg.eval.seed,
                                 curves=curves, on_result=on_eval, stop_at=cfg.eval.stop_at)
    ckpt_dir = run_dir / "checkpoints"
    range_cbs = range_callbacks(vec_env, extra_state.get("adr"))  # ADR / curriculum wrappers, if any

    def save_ckpt(m: Any) -> None:
        ckpt_dir.mkdir(exist_ok=True)
        state = {"curves": eval_cb.curves, "params_stats": params_cb.stats, "wandb_id": tracker.run_id,
                 "adr": range_state(range_cbs), "metadata": extra_metadata or {}}
        if rarl is not None:  # the adversary's checkpoint beside the protagonist's
            state["rarl"] = rarl.state(m.num_timesteps, cfg.keep_checkpoints)
        ckpt.save_checkpoint(ckpt.checkpoint_path(ckpt_dir, m.num_timesteps), m, vec_norm, state)
        ckpt.prune_checkpoints(ckpt_dir, cfg.keep_checkpoints)

    ckpt_cb = SafetensorsCheckpointCallback(save_ckpt, cfg.checkpoint_every)
    progress_cb = ProgressCallback(cfg.total_timesteps, lambda: eval_cb.latest, enabled=cfg.progress)
    callbacks = CallbackList([params_cb, *range_cbs, *([rarl] if rarl else []), eval_cb, ckpt_cb, progress_cb])
    remaining = cfg.total_timesteps - model.num_timesteps
    start_steps = model.num_timesteps
    t_learn, cpu_learn = time.perf_counter(), time.process_time()
    try:
        if cfg.eval.at_start and eval_envs and not resumed:  # t=0: the policy as built (and as prepared)
            eval_cb.init_callback(model)
            eval_cb.evaluate(model.num_timesteps)
            model.logger.record("time/total_timesteps", model.num_timesteps)
            model.logger.dump(model.num_timesteps)
        if remaining > 0:
            kwargs = {"log_interval": cfg.log_interval} if cfg.log_interval else {}
            model.learn(total_timesteps=remaining, callback=callbacks, reset_num_timesteps=not resumed, **kwargs)
        learn_s, learn_cpu = time.perf_counter() - t_learn, time.process_time() - cpu_learn
        eval_in_learn, ckpt_in_learn = eval_cb.eval_time, ckpt_cb.save_time
        if cfg.checkpoint_every > 0:
            save_ckpt(model)

        # final evaluation, weights, metadata, eval.json
        eval_cb.episodes = cfg.eval.final_episodes or cfg.eval.episodes
        if eval_envs and getattr(eval_cb, "model", None) is None:  # resumed at its last step: learn() never ran
            eval_cb.init_callback(model)
        final = eval_cb.evaluate(model.num_timesteps) if eval_envs else {}
        weights = run_dir / "policy.safetensors"
        sha = save_weights(weights, model, vec_norm)
        if rarl is not None:
            rarl.finish()  # RUN/adversary/
        tmp_zip = run_dir / ".model.tmp.zip"
        try:
            model.save(str(tmp_zip))
            tmp_zip.replace(run_dir / "model.zip")
        finally:
            tmp_zip.unlink(missing_ok=True)
        atomic_write_json(run_dir / "eval.json", {
            "curves": eval_cb.curves,
            "final": {k: {"episodes": r.episodes, "mean_return": r.mean_return, "std_return": r.std_return,
                          "returns": r.returns} for k, r in final.items()}})
        model.logger.record("time/total_timesteps", model.num_timesteps)
        model.logger.dump(model.num_timesteps)
        merge_step_rows(run_dir / "progress.csv")  # the final row joins the last training row: one per step
        if before_finish is not None:
            before_finish(run_dir)
        # metadata.json last: its presence marks a complete run (resume on it is a no-op)
        meta = build_metadata(cfg, model, vec_norm, weights_sha256=sha, params_observed=params_cb.summary(),
                              train_time_s=time.perf_counter() - t_start, vec_env=vec_env, extra=extra_metadata)
        meta["stopped_early"] = eval_cb.stopped_at is not None
        atomic_write_json(run_dir / "metadata.json", meta)

        steps = model.num_timesteps - start_steps
        learn_only = max(learn_s - eval_in_learn - ckpt_in_learn, 1e-9)
        fps = steps / learn_only if steps else 0.0
        tracker.summary({f"final/{k}/mean_return": r.mean_return for k, r in final.items()}
                        | {"num_timesteps": model.num_timesteps, "fps": fps})
        if final:
            tracker.log_table("final_scores", ["target", "episodes", "mean_return", "std_return"],
                              [[k, r.episodes, r.mean_return, r.std_return] for k, r in final.items()])
        if params_cb.stats:
            tracker.summary({f"params/{k}/{s}": v for k, d in params_cb.summary().items() for s, v in d.items()})
        if tc.log_artifact:
            tracker.log_artifact(f"policy-{name}".replace("/", "-")[:120],
                                 [weights, run_dir / "metadata.json", run_dir / "config.yaml"],
                                 metadata={"algo": cfg.algo, "env": cfg.env.id, "seed": cfg.seed})
        return TrainResult(run_dir=run_dir, num_timesteps=int(model.num_timesteps),
                           wall_time_s=time.perf_counter() - t_start, fps=fps, final=final, curves=eval_cb.curves,
                           stopped_early=eval_cb.stopped_at is not None, learn_time_s=learn_s, learn_cpu_s=learn_cpu,
                           eval_time_s=eval_in_learn, checkpoint_time_s=ckpt_in_learn)
    finally:
        model.logger.close()
        tracker.finish()


def summary_line(result: TrainResult) -> str:
    """One line for the end of a run: where it is and its final scores."""
    scores = ", ".join(f"{k} {r.mean_return:.1f} ± {r.std_return:.1f}" for k, r in result.final.items())
    return (f"simtransfer: trained {result.num_timesteps} steps in {result.wall_time_s:.1f} s "
            f"({result.fps:.0f} steps/s) → {result.run_dir}" + (f"; final: {scores}" if scores else ""))


def read_eval_json(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / "eval.json"
    return json.loads(p.read_text()) if p.is_file() else {"curves": {}, "final": {}}


def main_summary(result: TrainResult) -> None:
    print(summary_line(result), file=sys.stderr, flush=True)
