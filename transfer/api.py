"""Run one transfer: source run(s) + target env + method → a new run directory, like ``train`` makes.

>>> from simtransfer.transfer.api import transfer
>>> res = transfer("runs/pendulum", "simtransfer/InvertedPendulumExtrap-v0", "freeze",      # doctest: +SKIP
...                options={"layers": ["pi.0"]}, timesteps=20_000, out_dir="runs/pend_freeze")
>>> res.final["train"]["mean_return"]                                                      # doctest: +SKIP

The source run is only read.  The new run's ``metadata.json`` (and W&B config) carries ``lineage``: source
runs with the sha256 of their weights, method and options; ``transfer_report.json`` lists what was loaded,
skipped, newly initialised and frozen.
"""

from __future__ import annotations

import copy
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from simtransfer.agents.checkpoint import latest_readable_checkpoint
from simtransfer.agents.config import TrainConfig, load_train_config, resolve_train_config, update_config
from simtransfer.agents.policy_io import atomic_write_json, describe_space, space_from_json, spaces_compatible
from simtransfer.agents.rundirs import check_clearable, disk_errors, locked
from simtransfer.agents.train import check_out_dir, is_finished, train
from simtransfer.agents.vecenv import make_single_env
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.spec import EnvSpec, parse_env_spec
from simtransfer.envs.yaml_io import parse_yaml
from simtransfer.transfer.adapters import adapter_hint, get_preset
from simtransfer.transfer.methods import MethodOptions, TransferMethod, TransferResult, get_method
from simtransfer.transfer.source import SourceRun
from simtransfer.transfer.weights import TransferReport

REPORT = "transfer_report.json"
__all__ = ["REPORT", "TransferResult", "check_spaces", "default_out_dir", "lineage", "resume_transfer", "split_sets",
           "target_config", "transfer", "update_config"]  # update_config lives in agents.config (TrainConfig's layer)


def split_sets(sets: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Split ``--set`` items into config overrides and ``method.key=value`` options (values parsed as YAML)."""
    overrides, options = [], {}
    for item in sets:
        key, sep, text = item.partition("=")
        if key.strip().startswith("method."):
            if not sep or not key.strip()[len("method."):]:
                raise SimtransferError(f"bad --set '{item}': expected method.key=value")
            options[key.strip()[len("method."):]] = parse_yaml(text, source=f"--set {key.strip()}") if text.strip() \
                else None
        else:
            overrides.append(item)
    return overrides, options


def target_config(source: SourceRun, target: str | dict[str, Any] | EnvSpec, *, method: str,
                  timesteps: int | None = None, seed: int | None = None,
                  overrides: list[str] | None = None) -> TrainConfig:
    """The source's config moved to ``target``: same algorithm, hyper-parameters, budget (unless given)."""
    raw = copy.deepcopy(source.config)
    raw.pop("multitask", None)  # a multi-task source: the target is one task (its task one-hot adapter stays: zeros)
    raw["env"] = parse_env_spec(target).model_dump()
    raw["name"] = None
    raw.setdefault("eval", {})["targets"] = []
    raw.pop("adversary", None)  # a RARL source's adversary trained it in simulation; the target is trained on as it is
    if timesteps is not None:
        raw["total_timesteps"] = int(timesteps)
    tracking = raw.setdefault("tracking", {})
    # train() gives W&B the config only (not extra_metadata): the tags carry the lineage's essentials
    tags = {"transfer", f"method:{method}", f"source:{source.sha256[:12]}"}
    tracking["tags"] = sorted(set(tracking.get("tags") or []) | tags)
    return resolve_train_config(raw, overrides or [], source="transfer config", seed=seed, use_defaults=False)


def _source_spaces(source: SourceRun) -> tuple[Any, Any]:
    meta = source.metadata
    if "observation_space" in meta and "action_space" in meta:
        return space_from_json(meta["observation_space"]), space_from_json(meta["action_space"])
    env = make_single_env(source.config["env"], source.config.get("adapters") or [])
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def check_spaces(sources: list[SourceRun], config: TrainConfig) -> None:
    """One-line error when the target's spaces (after adapters) differ from a source's and nothing covers it."""
    env = make_single_env(config.env, config.adapters, seed=config.seed)
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    proj = config.policy.features_extractor_kwargs if (config.policy.features_extractor_class or "").endswith(
        "LinearObsProjection") else None
    for src in sources:
        s_obs, s_act = _source_spaces(src)
        obs_ok = spaces_compatible(s_obs, obs_space)
        if proj is not None and not obs_ok:
            index = proj.get("index") or list(get_preset(proj["preset"]).obs_index)
            obs_ok = len(index) == int(s_obs.shape[0])
        if obs_ok and spaces_compatible(s_act, act_space, bounds=True):
            continue
        hint_text = adapter_hint(src.env_id, config.env.id)
        raise SimtransferError(
            f"spaces differ: source {src.env_id} has observation {describe_space(s_obs)} / action "
            f"{describe_space(s_act, True)}, target {config.env.id} has observation {describe_space(obs_space)} / "
            f"action {describe_space(act_space, True)} after adapters; use {hint_text} or --method partial"
        )


def default_out_dir(config: TrainConfig, method: str, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.env.display_name}__{method}__{config.seed}__{stamp}"


def lineage(sources: list[SourceRun], method: TransferMethod, options: MethodOptions) -> dict[str, Any]:
    """What ``metadata.json`` and the W&B config record about where a transfer run came from."""
    return {
        "method": method.name,
        "options": options.model_dump(mode="json"),
        "sources": [s.lineage() for s in sources],
        "source_run": str(sources[0].path.resolve()) if sources else None,
        "source_sha256": sources[0].sha256 if sources else None,
    }


def transfer(
    sources: str | Path | list[str | Path] | list[SourceRun],
    target: str | dict[str, Any] | EnvSpec,
    method: str | TransferMethod,
    *,
    out_dir: str | Path | None = None,
    timesteps: int | None = None,
    seed: int | None = None,
    options: dict[str, Any] | MethodOptions | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    quiet: bool = False,
    eval_at_start: bool = True,
) -> TransferResult:
    """Transfer the source run(s) to ``target`` with ``method``; returns the new run's result.

    ``eval_at_start``: score the prepared policy before any target training and put it at t=0 of the
    ``eval.json`` curves (jumpstart, time-to-threshold and area-under-curve need it).
    """
    meth = method if isinstance(method, TransferMethod) else get_method(method)
    if isinstance(sources, (str, Path, SourceRun)):
        sources = [sources]
    srcs = [s if isinstance(s, SourceRun) else SourceRun.load(s) for s in sources]
    if not srcs:
        raise SimtransferError("transfer needs a source run (its config is the starting point)")
    meth.check_sources(srcs if meth.uses_weights else srcs[:0])
    opts = meth.parse_options(options)
    config = target_config(srcs[0], target, method=meth.name, timesteps=timesteps, seed=seed, overrides=overrides)
    config = meth.configure(config, srcs, opts)
    if eval_at_start and meth.learns and not config.eval.at_start:
        config = update_config(config, {"eval.at_start": True})
    if meth.uses_weights and getattr(meth, "requires_matching_spaces", True):
        check_spaces(srcs, config)
    run_dir = Path(out_dir) if out_dir is not None else default_out_dir(config, meth.name)
    for s in srcs:
        if run_dir.resolve() == s.path.resolve() or s.path.resolve() in run_dir.resolve().parents:
            raise SimtransferError(f"output directory {run_dir} is inside source run {s.path}: pick another --out")
    protect = [s.path for s in srcs]  # --force never clears a source (nor foreign files)
    if force and run_dir.is_dir():  # no lock file in a directory --force refuses to clear
        check_clearable(run_dir, protect)
    meta = {"lineage": lineage(srcs, meth, opts)}
    with disk_errors(), locked(run_dir):
        if not meth.learns:
            check_out_dir(run_dir, force, protect)
            result = meth.run(config, srcs, opts, run_dir, meta, force=force)  # type: ignore[attr-defined]
            if not quiet:
                print(f"simtransfer: {meth.name} → {run_dir}", file=sys.stderr)
            return result
        return _train_transfer(config, srcs, meth, opts, run_dir, meta, force=force, quiet=quiet, protect=protect)


def _train_transfer(config: TrainConfig, srcs: list[SourceRun], meth: TransferMethod, opts: MethodOptions, run_dir: Path,
                    meta: dict[str, Any], *, force: bool = False, quiet: bool = False, resume: bool = False,
                    protect: list[Path] | None = None) -> TransferResult:
    """Train with ``meth.prepare_model`` applied to the freshly built model (before a checkpoint on resume)."""
    holder: dict[str, TransferReport] = {}

    def prepare(model: Any, vec_env: Any) -> None:
        rep = meth.prepare_model(model, vec_env, srcs, opts)
        rep.method = rep.method or meth.name
        holder["report"] = rep
        if not quiet:
            print(rep.summary(), file=sys.stderr, flush=True)
        meta["lineage"]["report"] = {k: v for k, v in rep.to_dict().items()
                                     if k in ("frozen", "new", "reinitialized", "normalization", "notes")}

    def write_report(out: Path) -> None:  # before metadata.json: a complete run always has its report
        if "report" in holder:
            atomic_write_json(out / REPORT, holder["report"].to_dict())

    res = train(config, run_dir, force=force, resume=resume, prepare_model=prepare, extra_metadata=meta,
                protect=protect, before_finish=write_report)
    report = holder.get("report")
    report_dict = report.to_dict() if report is not None else _read_report(Path(res.run_dir), meth.name)
    return TransferResult(run_dir=Path(res.run_dir), method=meth.name, report=report_dict,
                          final={k: v.to_dict() for k, v in res.final.items()}, curves=res.curves)


def _read_report(run_dir: Path, method: str) -> dict[str, Any]:
    try:
        return json.loads((run_dir / REPORT).read_text())
    except (OSError, ValueError):
        return TransferReport(method=method).to_dict()


def resume_transfer(run_dir: str | Path, *, quiet: bool = False) -> TransferResult:
    """Continue a killed transfer run from its last readable checkpoint, with the run's own config.yaml and
    the method, options and sources recorded in its checkpoint (the lineage metadata.json gets at the end).
    The sources must still have the weights (sha256) the run started from."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise SimtransferError(f"cannot resume {run_dir}: it has no config.yaml")
    with disk_errors(), locked(run_dir):
        config = load_train_config(run_dir / "config.yaml", use_defaults=False)
        if is_finished(run_dir, config.total_timesteps):
            res = train(None, run_dir, resume=True)  # says it is finished; changes nothing
            method = json.loads((run_dir / "metadata.json").read_text()).get("lineage", {}).get("method", "?")
            return TransferResult(run_dir=run_dir, method=method, report=_read_report(run_dir, method),
                                  final={k: v.to_dict() for k, v in res.final.items()}, curves=res.curves)
        found = latest_readable_checkpoint(run_dir / "checkpoints")
        if found is None:
            raise SimtransferError(f"cannot resume {run_dir}: no checkpoint in {run_dir / 'checkpoints'} (that reads back)")
        lin = (found[1].get("extra", {}).get("metadata") or {}).get("lineage")
        if not isinstance(lin, dict) or not lin.get("method"):
            raise SimtransferError(f"{run_dir} is not a transfer run (its checkpoint records no lineage): "
                                   f"continue it with 'simtransfer train --resume {run_dir}'")
        meth = get_method(lin["method"])
        opts = meth.parse_options(lin.get("options") or {})
        srcs = []
        for rec in lin.get("sources") or []:
            src = SourceRun.load(rec["run"])
            if rec.get("sha256") and src.sha256 != rec["sha256"]:
                raise SimtransferError(f"cannot resume {run_dir}: source run {rec['run']} changed since the "
                                       "transfer started (its policy.safetensors sha256 differs)")
            srcs.append(src)
        meta = {"lineage": {k: v for k, v in lin.items() if k != "report"}}
        return _train_transfer(config, srcs, meth, opts, run_dir, meta, quiet=quiet, resume=True)
