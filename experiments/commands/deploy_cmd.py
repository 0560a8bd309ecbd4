"""``simtransfer deploy FILE --robot MODULE:CALLABLE --rate HZ``: run an exported policy on a robot.

The robot interface and the watchdog are described in docs/deploy.md. ``--robot`` names a factory (trusted
because it is typed here); ``--robot-arg K=V`` passes it keyword arguments (values parsed as YAML).

Examples::

    simtransfer deploy pendulum.onnx --robot simtransfer.agents.hil:pendulum --rate 60 --duration 60 --log logs/p1
    simtransfer deploy pendulum.pt --robot myrobot.driver:connect --robot-arg port=/dev/ttyUSB0 --rate 500 --steps 5000
"""

from __future__ import annotations

import argparse
import json
import sys

from simtransfer.envs.errors import SimtransferError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="an exported policy (simtransfer export)")
    parser.add_argument("--robot", required=True, metavar="MODULE:CALLABLE",
                        help="factory returning the robot (read_observation, send_action, stop)")
    parser.add_argument("--robot-arg", action="append", default=[], metavar="K=V",
                        help="keyword argument for the robot factory (repeatable)")
    parser.add_argument("--rate", type=float, required=True, metavar="HZ", help="control rate")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="seconds to run")
    parser.add_argument("--steps", type=int, default=None, help="control ticks to run")
    parser.add_argument("--log", default=None, metavar="DIR", help="trajectory log (a new directory)")
    parser.add_argument("--call-timeout", type=float, default=1.0, metavar="S",
                        help="a robot call taking longer is a hang: safe action and stop (default 1 s)")
    parser.add_argument("--max-faults", type=int, default=5,
                        help="consecutive faults (NaN, overrun) before a safety stop (default 5)")
    parser.add_argument("--action-limit", type=float, default=None, metavar="A",
                        help="clip actions to [-A, A] as well as to the exported action bounds")
    parser.add_argument("--robot-calls", choices=("auto", "inline", "thread"), default="auto",
                        help="call the robot on the loop's thread, bounded by a timer (inline: faster), or on a worker "
                             "thread (for a driver stuck in C code that ignores signals); default auto: inline on "
                             "the main thread")
    parser.add_argument("--realtime", type=int, default=None, metavar="PRIO",
                        help="run the loop under SCHED_FIFO priority PRIO (1..99; root or CAP_SYS_NICE), GC paused")
    parser.add_argument("--cpu", type=int, default=None, metavar="N", help="pin the loop to CPU N")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def robot_kwargs(items: list[str]) -> dict:
    from simtransfer.envs.yaml_io import parse_yaml

    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SimtransferError(f"bad --robot-arg '{item}': expected K=V")
        out[key.strip()] = parse_yaml(text, source=f"--robot-arg {key.strip()}") if text.strip() else None
    return out


def run(args: argparse.Namespace) -> int:
    from simtransfer.agents.deploy import deploy
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.realtime import check_realtime
    from simtransfer.envs.trust import resolve_component

    if args.duration is None and args.steps is None:
        raise SimtransferError("give --duration S or --steps N")
    check_realtime(args.realtime, args.cpu)  # before the robot starts
    policy = ExportedPolicy(args.file)
    factory = resolve_component(args.robot, object, field="--robot")
    if not callable(factory):
        raise SimtransferError(f"--robot {args.robot} is not callable")
    try:
        robot = factory(**robot_kwargs(args.robot_arg))
    except SimtransferError:
        raise
    except Exception as exc:
        raise SimtransferError(f"--robot {args.robot} failed to start: {type(exc).__name__}: {exc}") from None
    try:
        res = deploy(policy, robot, rate=args.rate, duration=args.duration, steps=args.steps, log=args.log,
                     call_timeout=args.call_timeout, max_faults=args.max_faults, action_limit=args.action_limit,
                     robot_calls_mode=args.robot_calls, realtime=args.realtime, cpu=args.cpu)
    finally:
        close = getattr(robot, "close", None)
        if callable(close):
            close()
    if args.json:
        print(json.dumps(res.to_dict()))
    print(f"deployed {res.steps} steps ({res.episodes} episodes, {res.terminations} terminations) at "
          f"{res.rate_hz:g} Hz: missed {res.missed_deadlines} deadlines ({100 * res.missed_fraction:.2f}%), "
          f"jitter p99 {res.jitter_p99_us:.0f} us, latency p99 {res.latency_p99_us:.0f} us, "
          f"{res.safe_actions} safe actions", file=sys.stderr)
    if res.stopped:
        where = f" (log: {res.log})" if res.log else ""
        raise SimtransferError(f"safety stop after {res.steps} steps: {res.stopped}; sent the safe action and "
                               f"stopped the robot{where}")
    return 0
