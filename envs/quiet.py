"""Keep pybullet's C-level chatter off the terminal: its build-time banner on import (stderr) and ``argv[0]=``
on every connect (stdout), which otherwise bury a command's own output lines.

:func:`quiet_pybullet` (called when ``envs`` is imported, before anything imports pybullet) imports pybullet
with file descriptor 2 sent to ``/dev/null`` and wraps ``pybullet.connect`` so that file descriptor 1 goes
there while it runs. Python exceptions (a failed connect raises ``pybullet.error``) and everything else stay
visible; ``SIMTRANSFER_DEBUG=1`` leaves pybullet's output alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def c_output_silenced(*fds: int) -> Iterator[None]:
    """Send file descriptors ``fds`` (1: stdout, 2: stderr) to ``/dev/null`` for the block, C buffers included."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(fd) for fd in fds]
    except OSError:  # a closed descriptor: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        _flush_c_stdio()  # what C code buffered goes to /dev/null, not to the restored descriptor
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def _flush_c_stdio() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


def quiet_pybullet() -> Any:
    """Import pybullet without its banner and make ``pybullet.connect`` silent on stdout (idempotent)."""
    if os.environ.get("SIMTRANSFER_DEBUG"):
        import pybullet

        return pybullet
    if "pybullet" in sys.modules:
        import pybullet
    else:
        with c_output_silenced(2):
            import pybullet
    connect = pybullet.connect
    if not getattr(connect, "_simtransfer_quiet", False):

        @functools.wraps(connect)
        def quiet_connect(*args: Any, **kwargs: Any) -> Any:
            with c_output_silenced(1):
                return connect(*args, **kwargs)

        quiet_connect._simtransfer_quiet = True  # type: ignore[attr-defined]
        pybullet.connect = quiet_connect
    return pybullet
