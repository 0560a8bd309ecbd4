"""A fixed-rate control loop for an exported policy on a robot (:mod:`simtransfer.agents.robot`), with a watchdog.

Each tick (period ``1 / rate``): read the observation, run the exported file, clip the action to the limits,
send it. The watchdog sends the robot's safe action instead when the observation holds NaN/inf, when the
action would arrive after the next deadline (overrun) or when the policy's output is not finite; it stops the
robot (safe action, then ``stop()``) when a robot call raises or hangs past ``call_timeout``, when the
observation has the wrong size, or after ``max_faults`` consecutive faults. Robot calls run inline on the loop's
thread, bounded by a timer, or on a worker thread (:mod:`simtransfer.agents.robot_calls`); ``realtime`` and ``cpu``
give the loop SCHED_FIFO priority and a pinned core (:mod:`simtransfer.agents.realtime`). Every episode is logged in the
trajectory format (:mod:`simtransfer.agents.trajectories`); the statistics (latency, jitter, missed
deadlines) come back as a :class:`DeployResult` and a safety stop raises a one-line error after logging.

>>> res = deploy("pendulum.onnx", pendulum(), rate=100, duration=60, log="logs/pend")   # doctest: +SKIP
>>> res.missed_fraction, res.jitter_p99_us                                              # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simtransfer.agents.export.runtime import ExportedPolicy
from simtransfer.agents.policy_io import space_from_json
from simtransfer.agents.realtime import check_realtime, realtime_scheduling
from simtransfer.agents.robot import check_robot, default_safe_action, episode_over, optional_call
from simtransfer.agents.robot_calls import SafetyStop, check_call_settings, robot_calls
from simtransfer.agents.trajectories import TrajectoryWriter
from simtransfer.envs.errors import SimtransferError

SPIN_S = 0.0003  # sleep until this close to a deadline, then spin (time.sleep overshoots by ~0.1 ms)


@dataclass
class DeployResult:
    steps: int = 0
    episodes: int = 0
    duration_s: float = 0.0
    rate_hz: float = 0.0
    missed_deadlines: int = 0
    safe_actions: int = 0
    clipped_actions: int = 0
    latency_p50_us: float = 0.0
    latency_p99_us: float = 0.0
    latency_max_us: float = 0.0
    jitter_p50_us: float = 0.0
    jitter_p99_us: float = 0.0
    jitter_max_us: float = 0.0
    terminations: int = 0
    faults: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the loop ended early (a safety stop), None when it ran to the end
    log: str | None = None
    robot_calls: str = ""  # how the robot was called: inline (timer-bounded) or thread
    realtime: int | None = None  # SCHED_FIFO priority of the loop, None: the OS's normal scheduling
    cpu: int | None = None  # the CPU the loop was pinned to

    @property
    def missed_fraction(self) -> float:
        return self.missed_deadlines / max(self.steps, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missed_fraction": self.missed_fraction}


def _wait_until(deadline: float) -> None:
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        if left > SPIN_S:
            time.sleep(left - SPIN_S)


def _log_spaces(meta: dict[str, Any]) -> tuple[gym.spaces.Box, gym.spaces.Box]:
    obs = space_from_json(meta["observation"]["space"])
    act = space_from_json(meta["action"]["space"])
    if not isinstance(act, gym.spaces.Box):  # Discrete: logged as one number
        act = gym.spaces.Box(0, act.n - 1, (1,), np.float32)
    return obs, act


def deploy(policy: str | Path | ExportedPolicy, robot: Any, *, rate: float, duration: float | None = None,
           steps: int | None = None, log: str | Path | None = None, call_timeout: float = 1.0,
           max_faults: int = 5, action_limit: float | None = None, robot_calls_mode: str = "auto",
           realtime: int | None = None, cpu: int | None = None) -> DeployResult:
    """Run ``policy`` on ``robot`` at ``rate`` Hz for ``duration`` seconds or ``steps`` ticks (see module doc)."""
    pol = policy if isinstance(policy, ExportedPolicy) else ExportedPolicy(policy)
    check_robot(robot)
    if not rate or rate <= 0:
        raise SimtransferError(f"--rate must be positive, got {rate}")
    if duration is None and steps is None:
        raise SimtransferError("give a duration or a number of steps")
    check_call_settings(robot_calls_mode, call_timeout)
    check_realtime(realtime, cpu)
    meta = pol.metadata
    safe = optional_call(robot, "safe_action", None)
    safe = default_safe_action(meta) if safe is None else safe
    low = high = None
    if meta["action"]["space"]["type"] == "Box":
        space = space_from_json(meta["action"]["space"])
        low, high = space.low.astype(np.float32), space.high.astype(np.float32)
        if action_limit is not None:
            low, high = np.maximum(low, -abs(action_limit)), np.minimum(high, abs(action_limit))
    with realtime_scheduling(realtime, cpu):  # before the log: a refusal leaves nothing behind
        writer = None
        if log is not None:
            obs_space, act_space = _log_spaces(meta)
            writer = TrajectoryWriter(log, env_id=str(meta["source"]["env"].get("id")), observation_space=obs_space,
                                      action_space=act_space, control_period=1.0 / rate,
                                      metadata={"deployed": str(pol.path), "weights_sha256": meta["weights_sha256"],
                                                "rate_hz": rate, "source": meta["source"]})
        period = 1.0 / rate
        res = DeployResult(rate_hz=float(rate), log=str(log) if log is not None else None, realtime=realtime, cpu=cpu)
        lat: list[float] = []
        jit: list[float] = []
        consecutive = 0
        calls = robot_calls(robot, call_timeout, robot_calls_mode)
        res.robot_calls = calls.mode
        t0 = time.perf_counter()
        pending: Any = None  # the last action sent, waiting for the observation it led to (for the log)
        try:
            if callable(getattr(robot, "reset", None)):
                calls("reset")
            pol.reset()
            tick, episode_open = 0, False
            while (steps is None or res.steps < steps) and (duration is None or tick * period < duration):
                deadline = t0 + tick * period
                _wait_until(deadline)
                start = time.perf_counter()
                jit.append(start - deadline)
                obs = np.asarray(calls("read_observation"), dtype=np.float32)
                now = start - t0
                term, trunc = episode_over(robot)
                reward = float(optional_call(robot, "reward", 0.0))
                if obs.shape != tuple(pol.obs_shape):
                    raise SafetyStop(f"observation has shape {obs.shape}; the exported policy expects {pol.obs_shape}")
                if writer is not None and finite(obs):
                    if not episode_open:
                        writer.start_episode(obs, t=now)
                        episode_open = True
                    elif pending is not None:
                        writer.add_step(pending, obs, reward, term, trunc, t=now)
                if term or trunc:
                    res.terminations += int(term)
                    res.episodes += 1
                    if writer is not None and episode_open:
                        writer.end_episode()
                    episode_open, pending = False, None
                    calls("send_action", safe)
                    if callable(getattr(robot, "reset", None)):
                        calls("reset")
                    pol.reset()
                    tick = _next_tick(t0, period, tick)
                    continue
                fault = None
                if not finite(obs):
                    fault = "observation holds NaN or inf"
                    action = safe
                else:
                    action = pol.act(obs)
                    if low is not None:
                        clipped = np.clip(action, low, high)
                        res.clipped_actions += int(not np.array_equal(clipped, action))
                        action = clipped
                    if not finite(action):
                        fault, action = "policy output holds NaN or inf", safe
                    elif time.perf_counter() > deadline + period:
                        fault, action = "overrun: the action was ready after the next deadline", safe
                calls("send_action", action)
                done = time.perf_counter()
                lat.append(done - start)
                pending = np.asarray(action, dtype=np.float32).reshape(-1)
                res.steps += 1
                if fault is not None:
                    res.safe_actions += 1
                    consecutive += 1
                    if fault not in res.faults:
                        res.faults.append(fault)
                    if consecutive >= max_faults:
                        raise SafetyStop(f"{consecutive} consecutive faults (last: {fault})")
                else:
                    consecutive = 0
                if done > deadline + period:
                    res.missed_deadlines += 1
                tick = _next_tick(t0, period, tick)
            res.episodes += int(episode_open)
        except SafetyStop as exc:
            res.stopped = str(exc)
            res.faults.append(str(exc))
        finally:
            res.duration_s = time.perf_counter() - t0
            _safe_stop(calls, robot, safe, res)
            if writer is not None:
                writer.close()
            _stats(res, lat, jit)
        return res


def finite(x: Any) -> bool:
    return bool(np.isfinite(np.asarray(x, dtype=np.float64)).all())


def _next_tick(t0: float, period: float, tick: int) -> int:
    """The next tick whose deadline is still ahead (missed ones are skipped, not bunched)."""
    nxt = tick + 1
    late = int((time.perf_counter() - t0) / period)
    return max(nxt, late + 1) if late >= nxt else nxt


def _safe_stop(calls: Any, robot: Any, safe: Any, res: DeployResult) -> None:
    """Safe action then ``stop()``; when the worker hangs, call ``stop()`` directly (a second channel)."""
    try:
        if not calls.hung:
            calls("send_action", safe)
            calls("stop")
        else:
            robot.stop()
    except Exception as exc:  # noqa: BLE001 - a stop that fails is reported, never hidden
        res.faults.append(f"stop failed: {type(exc).__name__}: {exc}")
    finally:
        calls.shutdown()


def _stats(res: DeployResult, lat: list[float], jit: list[float]) -> None:
    if lat:
        a = np.asarray(lat) * 1e6
        res.latency_p50_us, res.latency_p99_us, res.latency_max_us = (float(np.percentile(a, 50)),
                                                                      float(np.percentile(a, 99)), float(a.max()))
    if jit:
        j = np.asarray(jit) * 1e6
        res.jitter_p50_us, res.jitter_p99_us, res.jitter_max_us = (float(np.percentile(j, 50)),
                                                                   float(np.percentile(j, 99)), float(j.max()))
