"""Real-time scheduling for a control loop: ``SCHED_FIFO`` priority, a pinned CPU and the cyclic garbage collector
paused, for the duration of a ``with`` block — what a robot's control loop gets from ``chrt``/``taskset`` (or
ros2_control's real-time thread) so that other processes on the machine cannot delay its ticks.

Linux only; ``SCHED_FIFO`` needs root or ``CAP_SYS_NICE`` (or an ``rtprio`` limit in limits.conf). A refusal is a
one-line :class:`~simtransfer.envs.errors.SimtransferError`; everything is restored on exit.

>>> with realtime_scheduling(None, None):   # neither asked for: nothing changes
...     pass
>>> check_realtime(100, None)
Traceback (most recent call last):
...
simtransfer.envs.errors.SimtransferError: --realtime 100: a SCHED_FIFO priority is 1..99
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

from simtransfer.envs.errors import SimtransferError


def check_realtime(priority: int | None, cpu: int | None) -> None:
    """One-line errors for a priority outside 1..99, a CPU this process may not use, or no OS support."""
    if priority is not None:
        if not hasattr(os, "sched_setscheduler"):
            raise SimtransferError("--realtime: this OS has no SCHED_FIFO (Linux only)")
        if not 1 <= int(priority) <= 99:
            raise SimtransferError(f"--realtime {priority}: a SCHED_FIFO priority is 1..99")
    if cpu is not None:
        if not hasattr(os, "sched_getaffinity"):
            raise SimtransferError("--cpu: this OS cannot pin a thread to a CPU (Linux only)")
        allowed = sorted(os.sched_getaffinity(0))
        if int(cpu) not in allowed:
            raise SimtransferError(f"--cpu {cpu}: not one of this process's CPUs {allowed}")


@contextmanager
def realtime_scheduling(priority: int | None, cpu: int | None) -> Iterator[None]:
    """The calling thread runs the block under ``SCHED_FIFO`` ``priority`` on ``cpu`` (either may be None), with
    the garbage collector paused when a priority is given; the previous settings come back afterwards."""
    check_realtime(priority, cpu)
    if priority is None and cpu is None:
        yield
        return
    previous_affinity = os.sched_getaffinity(0) if cpu is not None else None
    previous_policy = previous_param = None
    gc_was_enabled = gc.isenabled()
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {int(cpu)})
        if priority is not None:
            previous_policy, previous_param = os.sched_getscheduler(0), os.sched_getparam(0)
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
            except OSError as exc:
                previous_policy = None
                raise SimtransferError(f"--realtime {priority}: the OS refused SCHED_FIFO ({exc.strerror}); run as "
                                       "root, give the interpreter CAP_SYS_NICE, or raise the rtprio limit") from None
            gc.disable()
        yield
    finally:
        if previous_policy is not None:
            os.sched_setscheduler(0, previous_policy, previous_param)
        if previous_affinity is not None:
            os.sched_setaffinity(0, previous_affinity)
        if gc_was_enabled:
            gc.enable()
