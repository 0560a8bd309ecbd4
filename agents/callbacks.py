"""SB3 callbacks of the training pipeline: evaluation on targets, checkpoints, randomization logging, progress.

Each ``_on_step`` is a counter comparison unless there is work to do, so they cost next to nothing per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from stable_baselines3.common.callbacks import BaseCallback

from simtransfer.agents.evaluation import EvalResult, run_episodes, summarize
from simtransfer.agents.vecenv import ObsNormalizer, find_vec_normalize


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


class TargetEvalCallback(BaseCallback):
    """Every ``every`` steps, score the current policy on each named env; keep the curves.

    ``envs`` maps a target name (``"train"`` for the training distribution) to a single gymnasium env.
    ``on_result(step, {name: EvalResult})`` is called after each evaluation (logging, eval.json, W&B).
    """

    def __init__(self, envs: dict[str, Any], *, every: int, episodes: int, seed: int,
                 curves: dict[str, dict[str, list]] | None = None,
                 on_result: Callable[[int, dict[str, EvalResult]], None] | None = None,
                 stop_at: float | None = None, stop_target: str = "train") -> None:
        super().__init__()
        self.envs, self.every, self.episodes, self.seed = envs, every, episodes, seed
        self.stop_at, self.stop_target = stop_at, stop_target
        self.stopped_at: int | None = None
        self.curves: dict[str, dict[str, list]] = curves or {}
        self.on_result = on_result
        self.latest: dict[str, EvalResult] = {}
        self.eval_time = 0.0
        self._next = 0

    def _init_callback(self) -> None:
        self._next = _next_multiple(self.model.num_timesteps, self.every) if self.every > 0 else -1

    def evaluate(self, step: int) -> dict[str, EvalResult]:
        t0 = time.perf_counter()
        normalizer = ObsNormalizer.from_vec_normalize(find_vec_normalize(self.model.get_env()))
        results = {}
        for name, env in self.envs.items():
            returns, lengths = run_episodes(env, self.model, episodes=self.episodes, seed=self.seed,
                                            normalizer=normalizer)
            res = summarize(name, returns, lengths)
            results[name] = res
            curve = self.curves.setdefault(name, {"timesteps": [], "mean_return": [], "std_return": []})
            if curve["timesteps"] and curve["timesteps"][-1] == int(step):  # final eval at a periodic step
                curve["mean_return"][-1], curve["std_return"][-1] = res.mean_return, res.std_return
            else:
                curve["timesteps"].append(int(step))
                curve["mean_return"].append(res.mean_return)
                curve["std_return"].append(res.std_return)
            self.logger.record(f"eval/{name}/mean_return", res.mean_return)
            self.logger.record(f"eval/{name}/std_return", res.std_return)
            self.logger.record(f"eval/{name}/cvar_10", res.cvar_10)
        self.latest = results
        self.eval_time += time.perf_counter() - t0
        if self.on_result is not None:
            self.on_result(step, results)
        return results

    def _on_step(self) -> bool:
        if self._next > 0 and self.num_timesteps >= self._next:
            self._next = _next_multiple(self.num_timesteps, self.every)
            results = self.evaluate(self.num_timesteps)
            hit = results.get(self.stop_target)
            if self.stop_at is not None and hit is not None and hit.mean_return >= self.stop_at:
                self.stopped_at = self.num_timesteps
                return False
        return True


class SafetensorsCheckpointCallback(BaseCallback):
    """Call ``save(model)`` every ``every`` steps; training passes the writer of its atomic safetensors
    checkpoints (``agents.checkpoint``). Unlike SB3's ``CheckpointCallback`` it writes nothing itself."""

    def __init__(self, save: Callable[[Any], None], every: int) -> None:
        super().__init__()
        self.save, self.every, self._next = save, every, 0
        self.save_time = 0.0

    def _init_callback(self) -> None:
        self._next = _next_multiple(self.model.num_timesteps, self.every) if self.every > 0 else -1

    def _on_step(self) -> bool:
        if self._next > 0 and self.num_timesteps >= self._next:
            self._next = _next_multiple(self.num_timesteps, self.every)
            t0 = time.perf_counter()
            self.save(self.model)
            self.save_time += time.perf_counter() - t0
        return True


class ParamsCallback(BaseCallback):
    """Log the randomization parameters each finished episode ran with (``info["episode_params"]``).

    Per-window means go to the SB3 logger as ``params/<name>`` (hence progress.csv and W&B); running
    min/max/mean over the whole run are kept in ``stats`` for metadata.json.
    """

    def __init__(self, stats: dict[str, dict[str, float]] | None = None) -> None:
        super().__init__()
        self.stats: dict[str, dict[str, float]] = stats or {}

    def _on_step(self) -> bool:
        dones = self.locals.get("dones")
        if dones is None or not np.any(dones):
            return True
        for done, info in zip(dones, self.locals.get("infos", ())):
            params = info.get("episode_params") if done else None
            if not params:
                continue
            for key, value in params.items():
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    continue
                self.logger.record_mean(f"params/{key}", v)
                s = self.stats.get(key)
                if s is None:
                    self.stats[key] = {"min": v, "max": v, "sum": v, "n": 1}
                else:
                    s["min"], s["max"] = min(s["min"], v), max(s["max"], v)
                    s["sum"] += v
                    s["n"] += 1
        return True

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"min": s["min"], "max": s["max"], "mean": s["sum"] / s["n"], "episodes": s["n"]}
                for k, s in self.stats.items()}


class ProgressCallback(BaseCallback):
    """A progress bar on stderr (rich on a terminal, a plain line every ~30 s otherwise): steps/s, latest eval."""

    def __init__(self, total: int, latest_eval: Callable[[], dict[str, EvalResult]], *, enabled: bool = True,
                 plain_every_s: float = 30.0) -> None:
        super().__init__()
        self.total, self.latest_eval, self.enabled = total, latest_eval, enabled
        self.plain_every_s = plain_every_s
        self._progress: Any = None
        self._task: Any = None
        self._last = 0.0
        self._t0 = 0.0
        self._start_steps = 0

    def _eval_text(self) -> str:
        latest = self.latest_eval()
        return ", ".join(f"{k} {r.mean_return:.1f}" for k, r in latest.items()) if latest else "-"

    def _on_training_start(self) -> None:
        self._t0 = self._last = time.perf_counter()
        self._start_steps = self.model.num_timesteps
        if not self.enabled:
            return
        if sys.stderr.isatty():
            self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[fps]:>6.0f} steps/s"), TimeRemainingColumn(),
                                      TextColumn("eval: {task.fields[eval]}"), console=Console(stderr=True),
                                      transient=False)
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, completed=self._start_steps,
                                                 fps=0.0, eval="-")

    def _fps(self) -> float:
        dt = time.perf_counter() - self._t0
        return (self.model.num_timesteps - self._start_steps) / dt if dt > 0 else 0.0

    def _on_step(self) -> bool:
        if not self.enabled:
            return True
        now = time.perf_counter()
        if self._progress is not None:
            if now - self._last >= 0.25:
                self._last = now
                self._progress.update(self._task, completed=self.num_timesteps, fps=self._fps(),
                                      eval=self._eval_text())
        elif now - self._last >= self.plain_every_s:
            self._last = now
            pct = 100.0 * self.num_timesteps / max(self.total, 1)
            print(f"simtransfer: train {self.num_timesteps}/{self.total} ({pct:.0f}%), {self._fps():.0f} steps/s, "
                  f"eval: {self._eval_text()}", file=sys.stderr, flush=True)
        return True

    def _on_training_end(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.num_timesteps, fps=self._fps(), eval=self._eval_text())
            self._progress.stop()
            self._progress = None
