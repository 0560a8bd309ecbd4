"""Robot calls bounded by a timeout: inline (SIGALRM timer on the loop's thread) and on a worker thread."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from simtransfer.agents.robot_calls import InlineCalls, SafetyStop, ThreadedCalls, robot_calls
from simtransfer.envs.errors import SimtransferError


class Driver:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    def read_observation(self):
        self.calls.append("read")
        return [1.0, 2.0]

    def hang(self):
        self.release.wait(30)  # a driver waiting on a bus that never answers
        return "late"

    def swallow(self):
        try:
            time.sleep(30)
        except Exception:  # a driver that eats every Exception cannot eat the timer's hang
            return "swallowed"

    def boom(self):
        raise ValueError("bus\nerror")

    def send_action(self, a):
        self.calls.append(f"send {a}")

    def stop(self):
        self.release.set()


@pytest.mark.parametrize("mode,kind", [("inline", InlineCalls), ("thread", ThreadedCalls), ("auto", InlineCalls)])
def test_mode_choice_and_plain_call(mode, kind):
    calls = robot_calls(Driver(), 1.0, mode)
    try:
        assert isinstance(calls, kind) and calls("read_observation") == [1.0, 2.0]
    finally:
        calls.shutdown()


def test_auto_uses_the_thread_off_the_main_thread():
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("calls", robot_calls(Driver(), 1.0, "auto")))
    th.start()
    th.join()
    assert isinstance(out["calls"], ThreadedCalls)
    out["calls"].shutdown()
    with pytest.raises(SimtransferError, match="need the main thread"):
        err = {}

        def inline_off_main():
            try:
                robot_calls(Driver(), 1.0, "inline")
            except SimtransferError as exc:
                err["e"] = exc

        th = threading.Thread(target=inline_off_main)
        th.start()
        th.join()
        raise err["e"]


@pytest.mark.parametrize("method", ["hang", "swallow"])
def test_inline_interrupts_a_hang_and_the_robot_stays_usable(method):
    robot = Driver()
    calls = robot_calls(robot, 0.2, "inline")
    try:
        t = time.monotonic()
        with pytest.raises(SafetyStop, match=rf"robot {method}\(\) hung for more than 0.2 s"):
            calls(method)
        assert 0.15 < time.monotonic() - t < 2.0
        assert not calls.hung
        calls("send_action", 0)  # the interrupted call is not running any more: the safe action gets through
        assert robot.calls[-1] == "send 0"
    finally:
        calls.shutdown()


def test_thread_mode_abandons_a_hung_call():
    robot = Driver()
    calls = robot_calls(robot, 0.2, "thread")
    try:
        with pytest.raises(SafetyStop, match=r"hang\(\) hung for more than 0.2 s"):
            calls("hang")
        assert calls.hung
        with pytest.raises(SafetyStop, match="an earlier call still hangs"):
            calls("read_observation")
    finally:
        robot.stop()
        calls.shutdown()


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_an_exception_is_a_one_line_safety_stop(mode):
    calls = robot_calls(Driver(), 1.0, mode)
    try:
        with pytest.raises(SafetyStop, match=r"^robot boom\(\) raised ValueError: bus error$"):
            calls("boom")
    finally:
        calls.shutdown()


def test_inline_gives_back_sigalrm_and_an_earlier_timer():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 5.0)  # e.g. pytest-timeout's
    try:
        calls = robot_calls(Driver(), 0.5, "inline")
        calls("read_observation")
        calls.shutdown()
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 3.0 < left <= 5.0  # the earlier timer runs on, less the time spent
        assert signal.getsignal(signal.SIGALRM) is not calls._alarm
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        time.sleep(0.2)
        assert fired == [1]  # the earlier handler is back
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_late_timer_after_the_call_is_ignored():
    calls = robot_calls(Driver(), 1.0, "inline")
    try:
        calls("read_observation")
        calls._alarm(signal.SIGALRM, None)  # the tick arrives between the return and the disarm: no hang
    finally:
        calls.shutdown()


@pytest.mark.parametrize("mode,timeout,msg", [("fast", 1.0, "--robot-calls 'fast': expected one of auto, inline, thread"),
                                              ("auto", 0, "--call-timeout must be positive, got 0")])
def test_bad_settings(mode, timeout, msg):
    with pytest.raises(SimtransferError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        robot_calls(Driver(), timeout, mode)
