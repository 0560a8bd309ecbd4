"""Weights & Biases tracking that can never fail a training run.

Offline by default (no account, no network; ``wandb sync RUN/wandb/offline-run-*`` later); ``online`` and
``disabled`` selectable in config; the ``WANDB_MODE`` environment variable wins over config. Any W&B error
(init, logging, artifact, finish) becomes one warning and tracking switches itself off; local results are
written regardless. The W&B directory is the run directory (``RUN/wandb/``).

Online without network, ``wandb.init`` blocks for about 90 s before it fails. The first such failure switches
to offline, with one warning, this run (it is written offline at the end), every later run of this process
(``WANDB_MODE=offline``) and, through a marker file, the other processes of the experiment: the runner points
``SIMTRANSFER_WANDB_FALLBACK`` at ``OUT/.wandb-offline`` (:func:`share_offline_fallback`), its workers inherit
it, and a tracker that finds the file starts offline. So one experiment waits once, not once per job.

An offline run is only read after ``wandb sync``, so in offline mode everything is queued in memory and written
in one go when training ends: an active W&B run slows a CPU-bound training process by several percent
(its service threads), which offline tracking then does not cost. Online runs stream live.

>>> from simtransfer.agents.tracking import Tracker
>>> t = Tracker(mode="disabled")
>>> t.start("runs/x", {"algo": "ppo"}, name="x"); t.log({"a": 1.0}, step=0); t.finish()
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import KVWriter

MODES = ("offline", "online", "disabled")
FALLBACK_ENV = "SIMTRANSFER_WANDB_FALLBACK"  # path of the marker file: it exists once online W&B has failed
FALLBACK_FILE = ".wandb-offline"


def resolve_mode(config_mode: str) -> str:
    """``WANDB_MODE`` (if set to a known mode) overrides the config's mode; see :func:`fallback_mode`."""
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env == "dryrun":
        env = "offline"
    return fallback_mode(env if env in MODES else config_mode)


def fallback_mode(mode: str) -> str:
    """``offline`` instead of ``online`` once online W&B failed in this experiment (the marker file exists)."""
    marker = os.environ.get(FALLBACK_ENV)
    return "offline" if mode == "online" and marker and Path(marker).is_file() else mode


def share_offline_fallback(out_dir: str | Path) -> None:
    """Make a failure of online W&B in any job of the experiment in ``out_dir`` switch all its later jobs
    (this process and the workers it starts from now on) to offline; a marker of an earlier invocation goes."""
    marker = Path(out_dir).resolve() / FALLBACK_FILE
    marker.unlink(missing_ok=True)
    os.environ[FALLBACK_ENV] = str(marker)


class Tracker:
    """A thin, fail-safe wrapper over one W&B run."""

    def __init__(self, mode: str = "offline", project: str = "simtransfer", entity: str | None = None,
                 group: str | None = None, tags: list[str] | None = None, system_metrics: bool = False) -> None:
        self.mode = resolve_mode(mode)
        self.system_metrics = system_metrics
        self.project, self.entity, self.group, self.tags = project, entity, group, list(tags or [])
        self.run: Any = None
        self.failed = False
        self.deferred = self.mode == "offline"
        self._init_kwargs: dict[str, Any] | None = None
        self._queue: list[tuple[str, tuple]] = []

    @property
    def active(self) -> bool:
        if self.failed:
            return False
        return self.run is not None or (self.deferred and self._init_kwargs is not None)

    def _warn(self, what: str, exc: BaseException) -> None:
        self.failed = True
        msg = " ".join(str(exc).split())[:200]
        print(f"simtransfer: warning: W&B {what} failed ({type(exc).__name__}: {msg}); "
              "continuing without tracking, local results are unaffected", file=sys.stderr)

    def start(self, run_dir: str | Path, config: dict[str, Any], *, name: str, resume_id: str | None = None) -> None:
        """Start the W&B run with its files under ``run_dir/wandb``; never raises."""
        if self.mode == "disabled":
            return
        self._init_kwargs = {"run_dir": run_dir, "config": config, "name": name, "resume_id": resume_id}
        if not self.deferred:
            self._init()

    def _init(self) -> None:
        kw = self._init_kwargs or {}
        run_dir, config, name, resume_id = kw["run_dir"], kw["config"], kw["name"], kw["resume_id"]
        try:
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            # without system metrics, W&B's service process stays idle between logs: it then costs no
            # measurable training throughput on a 2-core machine (bench/bench_train.py)
            settings = None if self.system_metrics else wandb.Settings(console="off", x_disable_stats=True)
            self.run = wandb.init(project=self.project, entity=self.entity, group=self.group, tags=self.tags,
                                  name=name, config=config, dir=str(run_dir), mode=self.mode, settings=settings,
                                  id=resume_id, resume="allow" if resume_id else None, reinit="finish_previous")
        except BaseException as exc:  # noqa: BLE001  (W&B must never take training down, incl. its CommError)
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.run = None
            if self.mode == "online":
                self._go_offline(exc)
            else:
                self._warn("init", exc)

    def _go_offline(self, exc: BaseException) -> None:
        """Online init failed (no network, no login): this run, this process and the experiment go offline."""
        msg = " ".join(str(exc).split())[:200]
        os.environ["WANDB_MODE"] = "offline"
        marker = os.environ.get(FALLBACK_ENV)
        if marker:
            try:
                Path(marker).write_text(f"{type(exc).__name__}: {msg}\n")
            except OSError:
                pass
        print(f"simtransfer: warning: W&B online failed ({type(exc).__name__}: {msg}); tracking offline from now "
              "on (this run and the rest of the experiment; 'wandb sync' uploads later)", file=sys.stderr)
        self.mode, self.deferred = "offline", True

    @property
    def run_id(self) -> str | None:
        return getattr(self.run, "id", None) if self.run is not None else None

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self.active:
            return
        if self.run is None:
            self._queue.append(("log", (dict(metrics), step)))
            return
        try:
            self.run.log(metrics, step=step)
        except Exception as exc:
            self._warn("log", exc)

    def summary(self, values: dict[str, Any]) -> None:
        if not self.active:
            return
        if self.run is None:
            self._queue.append(("summary", (dict(values),)))
            return
        try:
            for key, value in values.items():
                self.run.summary[key] = value
        except Exception as exc:
            self._warn("summary", exc)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        if not self.active:
            return
        if self.run is None:
            self._queue.append(("log_table", (key, columns, rows)))
            return
        try:
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)})
        except Exception as exc:
            self._warn("table", exc)

    def log_artifact(self, name: str, files: list[str | Path], *, kind: str = "model",
                     metadata: dict[str, Any] | None = None) -> None:
        """Upload files (e.g. the policy weights + metadata + config) as one artifact."""
        if not self.active:
            return
        if self.run is None:
            self._queue.append(("log_artifact", (name, list(files), kind, metadata)))
            return
        try:
            import wandb

            art = wandb.Artifact(name=name, type=kind, metadata=metadata or {})
            for f in files:
                if Path(f).is_file():
                    art.add_file(str(f))
            self.run.log_artifact(art)
        except Exception as exc:
            self._warn("artifact", exc)

    def flush(self) -> None:
        """Deferred (offline) mode: start the W&B run now and write everything queued."""
        if not self.deferred or self.failed or self._init_kwargs is None or self.run is not None:
            return
        self._init()
        queue, self._queue = self._queue, []
        for op, args in queue:
            if not self.active:
                break
            if op == "log_artifact":
                name, files, kind, metadata = args
                self.log_artifact(name, files, kind=kind, metadata=metadata)
            else:
                getattr(self, op)(*args)

    def finish(self) -> None:
        self.flush()
        if self.run is None:
            return
        try:
            self.run.finish(exit_code=0)
        except Exception as exc:
            self._warn("finish", exc)
        self.run = None


class WandbWriter(KVWriter):
    """An SB3 logger output that forwards every numeric record (rollout/, train/, eval/, params/) to W&B."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        if not self.tracker.active:
            return
        metrics = {k: v for k, v in key_values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if metrics:
            self.tracker.log(metrics, step=step)

    def close(self) -> None:
        pass
