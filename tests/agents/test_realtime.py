"""Real-time scheduling for the control loop: SCHED_FIFO, a pinned CPU, GC paused — and everything restored."""

from __future__ import annotations

import gc
import os

import pytest

from simtransfer.agents.realtime import check_realtime, realtime_scheduling
from simtransfer.envs.errors import SimtransferError


@pytest.mark.parametrize("priority,cpu,msg", [
    (0, None, "--realtime 0: a SCHED_FIFO priority is 1..99"),
    (100, None, "--realtime 100: a SCHED_FIFO priority is 1..99"),
    (None, 4096, r"--cpu 4096: not one of this process's CPUs \["),
])
def test_bad_settings_are_one_line_errors(priority, cpu, msg):
    with pytest.raises(SimtransferError, match=msg):
        check_realtime(priority, cpu)
    with pytest.raises(SimtransferError, match=msg):
        with realtime_scheduling(priority, cpu):
            pass


def test_fifo_pinned_and_gc_paused_inside_then_restored():
    before = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority, os.sched_getaffinity(0)
    cpu = max(before[2])
    try:
        with realtime_scheduling(7, cpu):
            assert os.sched_getscheduler(0) == os.SCHED_FIFO and os.sched_getparam(0).sched_priority == 7
            assert os.sched_getaffinity(0) == {cpu} and not gc.isenabled()
    except SimtransferError as exc:
        assert "refused SCHED_FIFO" in str(exc)
        pytest.skip(str(exc))  # no root / CAP_SYS_NICE on this machine
    after = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority, os.sched_getaffinity(0)
    assert after == before and gc.isenabled()


def test_restored_after_an_exception_and_pin_only_keeps_the_gc():
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError):
        with realtime_scheduling(None, min(before)):
            assert os.sched_getaffinity(0) == {min(before)} and gc.isenabled()  # no priority: GC untouched
            raise RuntimeError("loop failed")
    assert os.sched_getaffinity(0) == before and gc.isenabled()


def test_hil_stand_in_refuses_a_bad_priority_before_starting():
    from simtransfer.agents.hil import pendulum

    with pytest.raises(SimtransferError, match="--realtime 0"):
        pendulum(realtime=0)


def test_hil_stand_in_runs_its_plant_under_fifo():
    import time

    from simtransfer.agents.hil import pendulum

    try:
        robot = pendulum(lifetime=20, realtime=5)
    except SimtransferError as exc:
        assert "refused SCHED_FIFO" in str(exc)
        pytest.skip(str(exc))
    try:
        pid = robot._proc.pid
        assert os.sched_getscheduler(pid) == os.SCHED_FIFO and os.sched_getparam(pid).sched_priority == 5
        time.sleep(0.2)
        robot.read_observation()
        assert robot.physics_steps >= 5  # the plant still runs in real time
    finally:
        robot.close()
