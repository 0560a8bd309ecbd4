"""Range callbacks for SB3: Automatic Domain Randomization and scheduled curricula, plus a range plot.

Workers (``DummyVecEnv`` or ``SubprocVecEnv``) run :class:`simtransfer.envs.adr.ADRRandomization`; each pinned episode's
result arrives in the main process through ``info["adr"]`` of its last step (``done`` true). One :class:`ADRController` holds the shared
:class:`~simtransfer.envs.adr.ADRState`, and after every range change pushes the ranges back to all workers with
``vec_env.env_method("set_adr_ranges", ranges)``. :class:`ADRCallback` drives it from SB3 and logs
``adr/<param>_low`` / ``adr/<param>_high`` (hence ``progress.csv`` and W&B through the run's logger).

>>> from stable_baselines3 import PPO                                                    # doctest: +SKIP
>>> cb = ADRCallback()                                                                   # doctest: +SKIP
>>> PPO("MlpPolicy", vec_env).learn(20_000, callback=cb)                                 # doctest: +SKIP
>>> json.dumps(cb.state_dict())          # goes into the run's checkpoint; ADRCallback(state=...) resumes # doctest: +SKIP
>>> plot_adr_ranges("runs/ip_adr/progress.csv", "runs/ip_adr/adr_ranges.png")            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from simtransfer.envs.adr import ADRState
from simtransfer.envs.errors import SimtransferError


class ADRController:
    """The shared ADR state of a vectorized env: consumes worker results, pushes ranges back.

    ``vec_env`` is any SB3 VecEnv (VecNormalize included) whose envs have an
    :class:`~simtransfer.envs.adr.ADRRandomization` wrapper. ``state``: a snapshot from :meth:`state_dict` to resume from.
    """

    def __init__(self, vec_env: Any, state: dict[str, Any] | None = None) -> None:
        try:
            configs = vec_env.get_attr("adr_config")
            space = vec_env.get_attr("adr_param_space", indices=[0])[0]
        except AttributeError:
            raise SimtransferError("adr: the training env has no ADR wrapper (add simtransfer.envs.adr:ADRRandomization or an "
                                   "'adr' section to the randomization spec)") from None
        if any(c != configs[0] for c in configs[1:]):
            raise SimtransferError("adr: the vectorized envs have different ADR configs")
        self.vec_env = vec_env
        self.state = ADRState(space, configs[0])
        if state:
            self.state.load_state_dict(state)
        self.push()

    def push(self) -> None:
        """Send the current ranges to every worker (used from each worker's next reset)."""
        self.vec_env.env_method("set_adr_ranges", dict(self.state.ranges))

    def process(self, infos: Any, dones: Any) -> bool:
        """Record ``info["adr"]`` of every env whose episode just ended; push and return True if a range
        changed."""
        changed = False
        for info, done in zip(infos, dones):
            res = info.get("adr") if done and isinstance(info, dict) else None
            if res:
                changed |= self.state.record(res["param"], res["side"], float(res["value"]), float(res["return"]))
        if changed:
            self.push()
        return changed

    def log_values(self) -> dict[str, float]:
        """``adr/<param>_low``, ``adr/<param>_high``, ``adr/entropy``, ``adr/n_updates`` (and, with relative
        thresholds, ``adr/reference_return``) for the logger."""
        out: dict[str, float] = {}
        for name, (lo, hi) in self.state.ranges.items():
            out[f"adr/{name}_low"], out[f"adr/{name}_high"] = lo, hi
        out["adr/entropy"] = self.state.entropy()
        if self.state.config.thresholds == "relative":
            ref = self.state.reference_return()
            out["adr/reference_return"] = float("nan") if ref is None else ref
        out["adr/n_updates"] = float(self.state.n_updates)
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.state.state_dict()


class ADRCallback(BaseCallback):
    """Run ADR during ``model.learn``: read ``info["adr"]`` every step, log ranges at every rollout end.

    ``state`` resumes a run (the JSON from :meth:`state_dict`, e.g. stored in the run's checkpoint).
    ``on_change(controller)`` is called after every range change (e.g. to write the state to disk).
    """

    def __init__(self, state: dict[str, Any] | None = None, on_change: Any = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self._initial_state = state
        self.on_change = on_change
        self.controller: ADRController | None = None

    def _init_callback(self) -> None:
        self.controller = ADRController(self.training_env, self._initial_state)
        self._record()

    def _record(self) -> None:
        assert self.controller is not None
        for key, value in self.controller.log_values().items():
            self.logger.record(key, value)

    def _on_step(self) -> bool:
        assert self.controller is not None
        infos, dones = self.locals.get("infos"), self.locals.get("dones")
        if infos is not None and dones is not None and np.any(dones) and self.controller.process(infos, dones):
            if self.on_change is not None:
                self.on_change(self.controller)
        return True

    def _on_rollout_end(self) -> None:
        self._record()

    def state_dict(self) -> dict[str, Any]:
        """The ADR state as JSON-serializable data (before training starts: the state given to resume from)."""
        if self.controller is None:
            return dict(self._initial_state or {})
        return self.controller.state_dict()


class CurriculumCallback(BaseCallback):
    """Scale the training ranges with the timestep count, per the schedule of the env's
    :class:`simtransfer.envs.curriculum.CurriculumRandomization` wrapper; logs ``curriculum/fraction``."""

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.schedule: Any = None
        self.fraction = float("nan")

    def _init_callback(self) -> None:
        try:
            self.schedule = self.training_env.get_attr("curriculum_schedule", indices=[0])[0]
        except AttributeError:
            raise SimtransferError("curriculum: the training env has no CurriculumRandomization wrapper") from None
        self._update()

    def _update(self) -> None:
        f = self.schedule.fraction(self.num_timesteps)
        if not np.isclose(f, self.fraction, atol=1e-3):
            self.fraction = f
            self.training_env.env_method("set_curriculum_fraction", f)
            self.logger.record("curriculum/fraction", f)

    def _on_step(self) -> bool:
        self._update()
        return True

    def _on_rollout_end(self) -> None:
        self.logger.record("curriculum/fraction", self.fraction)


def adr_columns(columns: list[str]) -> list[str]:
    """Parameter names with ``adr/<name>_low`` and ``adr/<name>_high`` columns, in column order."""
    names = [c[len("adr/"):-len("_low")] for c in columns if c.startswith("adr/") and c.endswith("_low")]
    return [n for n in names if f"adr/{n}_high" in columns]


def plot_adr_ranges(progress_csv: str | Path, out_png: str | Path, params: list[str] | None = None) -> Path:
    """Plot each ADR range over training time (from a run's ``progress.csv``) into a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    path = Path(progress_csv)
    if not path.is_file():
        raise SimtransferError(f"no progress.csv at {path}")
    df = pd.read_csv(path)
    names = adr_columns(list(df.columns))
    if params is not None:
        missing = [p for p in params if p not in names]
        if missing:
            raise SimtransferError(f"{path} has no ADR columns for {', '.join(missing)} (has: {', '.join(names)})")
        names = params
    if not names:
        raise SimtransferError(f"{path} has no adr/<param>_low columns (was the run trained with ADR?)")
    x_col = "time/total_timesteps" if "time/total_timesteps" in df.columns else None
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.8 * len(names) + 0.6), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        sub = df[[c for c in (x_col, f"adr/{name}_low", f"adr/{name}_high") if c]].dropna()
        x = sub[x_col] if x_col else np.arange(len(sub))
        ax.fill_between(x, sub[f"adr/{name}_low"], sub[f"adr/{name}_high"], alpha=0.35, step="post")
        ax.step(x, sub[f"adr/{name}_low"], where="post", lw=1)
        ax.step(x, sub[f"adr/{name}_high"], where="post", lw=1)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("timesteps" if x_col else "log row")
    fig.suptitle("ADR ranges over training")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def range_callbacks(vec_env: Any, state: dict[str, Any] | None = None) -> list[BaseCallback]:
    """The range callbacks a training env needs: an :class:`ADRCallback` (resumed from ``state``, the value
    :func:`range_state` returned at the last checkpoint) if its envs have an ADR wrapper, a
    :class:`CurriculumCallback` if they have a curriculum wrapper; ``[]`` otherwise."""
    out: list[BaseCallback] = []
    if vec_env.has_attr("adr_config"):
        out.append(ADRCallback(state=state))
    if vec_env.has_attr("curriculum_schedule"):
        out.append(CurriculumCallback())
    return out


def range_state(callbacks: list[BaseCallback]) -> dict[str, Any] | None:
    """The ADR state among ``callbacks`` (JSON-serializable, for the checkpoint), or None without ADR."""
    for cb in callbacks:
        if isinstance(cb, ADRCallback):
            return cb.state_dict()
    return None
