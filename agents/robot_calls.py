"""How the control loop calls the robot: every call bounded by a timeout, a hang or an exception turned into a
safety stop (:class:`SafetyStop`) with a one-line reason.

Two ways, chosen by ``robot_calls(robot, timeout, mode)``:

* ``inline`` — on the loop's own thread, bounded by a ``SIGALRM`` interval timer (the way a real-time loop
  calls its hardware driver). No thread hand-off, so less latency per call than ``thread``
  (docs/deploy.md). Only on the main thread; a call stuck inside C code that ignores signals cannot be
  interrupted — use ``thread`` for such a driver.
* ``thread`` — each call on one worker thread, waited for with a timeout; a hung call is abandoned on its thread
  and the robot is stopped through ``stop()`` directly (a second channel).
* ``auto`` (default) — ``inline`` on the main thread, ``thread`` elsewhere.

>>> class Echo:
...     def read_observation(self): return [0.0]
...     def send_action(self, action): pass
...     def stop(self): pass
>>> calls = robot_calls(Echo(), timeout=1.0, mode="thread")
>>> calls("read_observation")
[0.0]
>>> calls.shutdown()
"""

from __future__ import annotations

import concurrent.futures as cf
import signal
import threading
import time
from typing import Any

from simtransfer.envs.errors import SimtransferError

MODES = ("auto", "inline", "thread")


class SafetyStop(Exception):
    """The loop must stop the robot; the message says why in one line."""


def _raised(name: str, exc: BaseException) -> SafetyStop:
    return SafetyStop(f"robot {name}() raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")


class ThreadedCalls:
    """Robot calls on one worker thread, each bounded by ``timeout`` (a hanging call → safety stop)."""

    mode = "thread"

    def __init__(self, robot: Any, timeout: float) -> None:
        self.robot, self.timeout = robot, timeout
        self.pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="robot")
        self.hung = False

    def __call__(self, name: str, *args: Any) -> Any:
        if self.hung:
            raise SafetyStop(f"robot {name}() not called: an earlier call still hangs")
        fut = self.pool.submit(getattr(self.robot, name), *args)
        try:
            return fut.result(timeout=self.timeout)
        except cf.TimeoutError:
            self.hung = True
            raise SafetyStop(f"robot {name}() hung for more than {self.timeout:g} s") from None
        except Exception as exc:
            raise _raised(name, exc) from None

    def shutdown(self) -> None:
        self.pool.shutdown(wait=not self.hung, cancel_futures=True)


class _Hang(BaseException):
    """Raised by the timer inside a robot call (BaseException: a driver's ``except Exception`` cannot eat it)."""


class InlineCalls:
    """Robot calls on the calling (main) thread, each bounded by a ``SIGALRM`` timer; an interrupted call is
    abandoned, so the robot can still be sent the safe action and stopped through this same path."""

    mode = "inline"
    hung = False  # an interrupted call does not keep running: nothing is left hanging

    def __init__(self, robot: Any, timeout: float) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise SimtransferError("robot calls 'inline' need the main thread (signals); use 'thread'")
        self.robot, self.timeout = robot, timeout
        self._in_call = False
        # borrow SIGALRM; give back the previous handler and the previous timer's remaining time (pytest-timeout)
        self._previous_timer, self._since = signal.getitimer(signal.ITIMER_REAL)[0], time.monotonic()
        self._previous = signal.signal(signal.SIGALRM, self._alarm)

    def _alarm(self, signum: int, frame: Any) -> None:
        if self._in_call:  # a late tick after the call returned is ignored
            self._in_call = False
            raise _Hang

    def __call__(self, name: str, *args: Any) -> Any:
        fn = getattr(self.robot, name)
        self._in_call = True
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            return fn(*args)
        except _Hang:
            raise SafetyStop(f"robot {name}() hung for more than {self.timeout:g} s") from None
        except Exception as exc:
            raise _raised(name, exc) from None
        finally:
            self._in_call = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def shutdown(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
        if self._previous_timer > 0:
            left = self._previous_timer - (time.monotonic() - self._since)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


def check_call_settings(mode: str, timeout: float) -> None:
    """One-line errors for a mode not in :data:`MODES` or a timeout that is not positive."""
    if mode not in MODES:
        raise SimtransferError(f"--robot-calls {mode!r}: expected one of {', '.join(MODES)}")
    if not timeout or timeout <= 0:
        raise SimtransferError(f"--call-timeout must be positive, got {timeout}")


def robot_calls(robot: Any, timeout: float, mode: str = "auto") -> InlineCalls | ThreadedCalls:
    """The call runner for ``mode`` (see module doc); ``timeout`` must be positive."""
    check_call_settings(mode, timeout)
    inline_ok = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if mode == "inline" or (mode == "auto" and inline_ok):
        return InlineCalls(robot, timeout)
    return ThreadedCalls(robot, timeout)
