"""``simtransfer deploy``: fixed-rate loop, statistics, trajectory logs, and the watchdog's safe stops."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simtransfer.envs.errors import SimtransferError
from tests.agents.deploy_robots import SimRobot
from tests.agents.runs import tiny_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.train import train

    root = tmp_path_factory.mktemp("deploy")
    train(tiny_config("sac", normalize=True), root / "run")
    export_run(root / "run", "onnx", root / "p.onnx")
    return root / "p.onnx"


def test_loop_runs_at_rate_and_logs_episodes(exported, tmp_path):
    from simtransfer.agents.deploy import deploy
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.trajectories import read_trajectories

    robot = SimRobot(episode_steps=40)
    res = deploy(exported, robot, rate=100, steps=100, log=tmp_path / "log")
    assert res.stopped is None and res.steps == 100 and robot.stopped
    assert res.episodes == 3 and res.duration_s >= 1.0
    assert res.latency_p99_us > 0 and res.jitter_p99_us >= res.jitter_p50_us
    data = read_trajectories(tmp_path / "log")
    # 40 steps; then the safe action sent at the episode's end counts against the next; the last action sent
    # has no observation after it (the run ended), so it is not a logged step
    assert [len(e) for e in data.episodes] == [40, 39, 20]
    ep = data.episodes[0]
    pol = ExportedPolicy(exported)  # the logged actions are the policy's, for the logged observations
    expected = np.ravel([pol.act(o) for o in ep.observations[:-1]])
    # the watchdog replaces an overrun's action by the safe one (a loaded machine): those may differ
    assert np.sum(~np.isclose(ep.actions.ravel(), expected, atol=1e-6)) <= res.safe_actions
    assert np.all(np.diff(ep.timestamps) > 0) and data.metadata["rate_hz"] == 100
    assert np.allclose(robot.sent[-1], 0.0)  # the last thing sent: the safe action


@pytest.mark.parametrize("fault,reason", [
    ("nan", r"5 consecutive faults \(last: observation holds NaN or inf\)"),
    ("raise", r"robot read_observation\(\) raised RuntimeError: encoder cable unplugged"),
    ("hang", r"robot read_observation\(\) hung for more than 0.2 s"),
    ("size", r"observation has shape \(4,\); the exported policy expects \(3,\)"),
])
def test_watchdog_safe_stop(exported, tmp_path, fault, reason):
    from simtransfer.agents.deploy import deploy
    from simtransfer.agents.trajectories import read_trajectories

    robot = SimRobot(fault=fault, fault_at=5)
    res = deploy(exported, robot, rate=100, steps=50, log=tmp_path / "log", call_timeout=0.2)
    assert res.stopped is not None and __import__("re").search(reason, res.stopped), res.stopped
    assert robot.stopped and res.steps < 50 and res.robot_calls == "inline"
    assert np.allclose(robot.sent[-1], 0.0)  # safe action before stop() (a hung call was interrupted: inline)
    if fault == "nan":
        assert res.safe_actions >= 5 and all(np.allclose(a, 0.0) for a in robot.sent[-5:])
    assert read_trajectories(tmp_path / "log").episodes[0].actions.shape[0] >= 4  # logged up to the fault


def test_a_hang_on_the_worker_thread_stops_the_robot_directly(exported):
    from simtransfer.agents.deploy import deploy

    robot = SimRobot(fault="hang", fault_at=5)
    res = deploy(exported, robot, rate=100, steps=50, call_timeout=0.2, robot_calls_mode="thread")
    assert res.robot_calls == "thread" and robot.stopped and res.steps == 5
    assert res.stopped == "robot read_observation() hung for more than 0.2 s"
    assert len(robot.sent) == 5  # no safe action could pass the hung worker: stop() went directly


def test_realtime_loop_is_recorded_and_restored(exported):
    import os

    from simtransfer.agents.deploy import deploy

    before = os.sched_getscheduler(0), os.sched_getaffinity(0)
    try:
        res = deploy(exported, SimRobot(), rate=200, steps=20, realtime=10, cpu=min(before[1]))
    except SimtransferError as exc:  # no root / CAP_SYS_NICE here
        pytest.skip(str(exc))
    assert res.steps == 20 and res.realtime == 10 and res.cpu == min(before[1])
    assert (os.sched_getscheduler(0), os.sched_getaffinity(0)) == before


def test_action_limits_clip(exported):
    from simtransfer.agents.deploy import deploy

    robot = SimRobot()
    res = deploy(exported, robot, rate=200, steps=30, action_limit=0.01)
    assert max(abs(a).max() for a in robot.sent) <= 0.01 + 1e-7 and res.clipped_actions > 0


def test_cli_deploy_safe_stop_is_one_line(exported, tmp_path, capsys):
    from simtransfer.experiments.cli import main

    argv = ["deploy", str(exported), "--robot", "tests.agents.deploy_robots:make", "--rate", "100", "--steps", "40"]
    assert main(argv + ["--json", "--log", str(tmp_path / "ok")]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 40
    assert main(argv + ["--robot-arg", "fault=raise", "--log", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("simtransfer: error: safety stop after 5 steps: robot read_observation() raised "
                          "RuntimeError") and str(tmp_path / "bad") in err
    assert main(argv + ["--realtime", "0", "--log", str(tmp_path / "rt")]) == 2
    assert capsys.readouterr().err.strip() == "simtransfer: error: --realtime 0: a SCHED_FIFO priority is 1..99"
    assert not (tmp_path / "rt").exists()
    with pytest.raises(SimtransferError, match="--rate must be positive"):
        from simtransfer.agents.deploy import deploy

        deploy(exported, SimRobot(), rate=0, steps=1)


def test_hil_stand_in_over_a_socket(tmp_path):
    """The real-time PyBullet pendulum in another process, behind the robot interface."""
    from simtransfer.agents.hil import pendulum

    robot = pendulum(lifetime=20)
    try:
        obs0 = robot.read_observation()
        assert obs0.shape == (5,) and robot.period == pytest.approx(0.0165)
        import time

        time.sleep(0.2)
        robot.read_observation()
        assert robot.physics_steps >= 5  # it runs in real time by itself
        robot.send_action([1.0])
        robot.stop()
    finally:
        robot.close()
    assert robot._proc.poll() is not None  # the server process is gone
