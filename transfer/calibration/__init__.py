"""Real-to-sim calibration: fit a simulator's physics, actuators and sensors to logged trajectories.

:func:`calibrate` reads a trajectory dataset (:mod:`simtransfer.agents.trajectories`), checks it against the
simulator, fits the parameters (:mod:`.fit`) and writes a directory with ``preset.yaml`` (a randomization
preset centred on the estimate, usable by ``train`` as ``env.kwargs.randomization``), ``calibration.json`` and
``calibration.md`` (estimates with 95% intervals; unidentifiable parameters marked) and ``calibration.png``
(logged vs simulated, before and after). See docs/calibration.md.

>>> from simtransfer.transfer.calibration import calibrate
>>> calibrate("data/ip_real", "simtransfer/InvertedPendulum-v0", "calib/ip")       # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from simtransfer.agents.trajectories import Trajectories, read_trajectories
from simtransfer.envs.errors import SimtransferError
from simtransfer.envs.tasks import TASKS, VARIANTS, env_id, preset
from simtransfer.transfer.calibration.fit import Fit, fit, split_params
from simtransfer.transfer.calibration.outputs import make_preset, markdown_table, plot_fit, write_yaml
from simtransfer.transfer.calibration.simulator import Simulator

__all__ = ["calibrate", "default_params", "task_of"]


def task_of(sim_id: str) -> str | None:
    """The simtransfer task behind ``sim_id`` (``simtransfer/InvertedPendulum-v0`` -> ``InvertedPendulum``)."""
    for task in TASKS:
        if any(env_id(task, v) == sim_id for v in VARIANTS):
            return task
    return None


def default_params(sim: Simulator) -> list[str]:
    """Motor gain, the mass of every massive robot link but the root (with the gain free, a uniform mass scale is
    not identifiable), the loop delay and the observation noise."""
    massive = [li.name for li in sim.binding.links if li.native["mass"] > 0 and li.link >= 0]
    links = massive[1:]  # the first massive link is the root (the cart)
    return ["motor_gain", *[f"mass@{n}" for n in dict.fromkeys(links)], "action_latency", "obs_noise"]


def check_data(data: Trajectories, sim: Simulator, source: str) -> None:
    """One-line errors for a log that does not belong to this simulator."""
    env = sim.env
    cls = data.metadata.get("env_class")
    if cls and cls != type(env.unwrapped).__name__:
        raise SimtransferError(f"{source}: a log of {data.env_id} ({cls}), not of the simulator's "
                               f"{type(env.unwrapped).__name__}")
    for field, logged, space in (("observations", data.observation_space, env.observation_space),
                                 ("actions", data.action_space, env.action_space)):
        if tuple(logged.shape) != tuple(space.shape):
            raise SimtransferError(f"{source}: field '{field}' has shape {tuple(logged.shape)} per step, the "
                                   f"simulator expects {tuple(space.shape)} (a file for another env?)")
    dt = data.metadata.get("control_period")
    if dt and sim.dt and abs(float(dt) - sim.dt) > 0.02 * sim.dt:
        raise SimtransferError(f"{source}: field 'control_period' is {float(dt):g} s, the simulator steps "
                               f"{sim.dt:g} s (resample the log to the simulator's control period)")


def calibrate(data_path: str | Path, sim_id: str, out: str | Path, *, params: list[str] | None = None,
              horizon: int = 10, max_windows: int = 300, max_delay: int = 4, budget: int = 400, seed: int = 0,
              plot: bool = True) -> dict[str, Any]:
    """Fit ``params`` (default: :func:`default_params`) of ``sim_id`` to the log at ``data_path``; write ``out``."""
    out = Path(out)
    if out.exists():
        raise SimtransferError(f"{out}: already exists; calibration results are never overwritten")
    if horizon < 1 or max_windows < 10 or max_delay < 0 or budget < 10:
        raise SimtransferError("calibrate: needs horizon >= 1, max_windows >= 10, max_delay >= 0, budget >= 10")
    data = read_trajectories(data_path)
    source = str(data_path)
    probe = params if params is not None else []
    physics, _ = split_params(probe, source)
    sim = Simulator(sim_id, physics, data)
    try:
        check_data(data, sim, source)
        if params is None:
            params = default_params(sim)
            physics, _ = split_params(params, source)
            sim.close()
            sim = Simulator(sim_id, physics, data)
        result = fit(sim, data, params, horizon=horizon, max_windows=max_windows, max_delay=max_delay,
                     budget=budget, seed=seed, source=source)
        task = task_of(sim_id)
        base = preset(task) if task else {"params": {}}
        report = _report(result, data, sim_id, source, params)
        tmp = out.with_name(f".{out.name}.tmp{time.time_ns()}")
        tmp.mkdir(parents=True)
        try:
            write_yaml(tmp / "preset.yaml", make_preset(base, result), header=(
                f"Randomization preset calibrated by `simtransfer calibrate` from {source} for {sim_id}.\n"
                "Calibrated parameters are centred on the estimate (spread: 95% interval, at least +-5%);\n"
                "the others keep the task preset's ranges. Use: --set env.kwargs.randomization=<this file>"))
            (tmp / "calibration.json").write_text(json.dumps(report, indent=1))
            (tmp / "calibration.md").write_text(markdown_table(report))
            if plot:
                plot_fit(sim, result, tmp / "calibration.png")
            if out.exists():
                raise SimtransferError(f"{out}: already exists; calibration results are never overwritten")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        sim.close()
    return report


def _report(result: Fit, data: Trajectories, sim_id: str, source: str, params: list[str]) -> dict[str, Any]:
    return {"data": source, "data_env_id": data.env_id, "sim": sim_id, "params": params,
            "episodes": len(data.episodes), "steps": data.total_steps, "horizon": result.horizon,
            "windows": len(result.windows), "estimates": [e.to_dict() for e in result.estimates.values()],
            "delay_costs": {str(k): v for k, v in result.delay_costs.items()},
            "cost_nominal": result.cost_nominal, "cost_fit": result.cost_fit,
            "evaluations": result.evaluations, "seconds": result.seconds}
