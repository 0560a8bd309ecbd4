"""Where experiment jobs run: in this process, a local process pool, or Ray tasks (one CPU each).

Each backend takes the job function (``simtransfer.experiments.runner.run_job``) and the experiment config as a plain
mapping; ``submit`` starts a job, ``wait`` returns one finished job with its result or its exception.
A :class:`~simtransfer.envs.errors.SimtransferError` (bad input) is re-raised at once; any other error is returned so
one failed cell never loses the others.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict
from typing import Any

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.jobs import Job

JobFn = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class Backend:
    """Where jobs run: ``submit`` starts one, ``wait`` returns one finished job with its result or error."""

    def submit(self, job: Job) -> None:
        raise NotImplementedError

    def wait(self) -> tuple[Job, dict[str, Any] | BaseException]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class InProcess(Backend):
    def __init__(self, fn: JobFn, cfg_dict: dict[str, Any]) -> None:
        self.fn, self.cfg_dict, self.queue = fn, cfg_dict, []

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def wait(self) -> tuple[Job, dict[str, Any] | BaseException]:
        job = self.queue.pop(0)
        try:
            return job, self.fn(self.cfg_dict, asdict(job))
        except SimtransferError:
            raise
        except Exception as exc:  # one failed cell must not lose the others
            return job, exc


class Pool(Backend):
    """A local process pool (spawn), created once per run so workers import torch and SB3 only once."""

    def __init__(self, fn: JobFn, cfg_dict: dict[str, Any], workers: int) -> None:
        self.fn, self.cfg_dict = fn, cfg_dict
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=quiet_worker)
        self.futures: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self.futures[self.pool.submit(self.fn, self.cfg_dict, asdict(job))] = job

    def wait(self) -> tuple[Job, dict[str, Any] | BaseException]:
        done, _ = wait_futures(list(self.futures), return_when=FIRST_COMPLETED)
        fut = next(iter(done))
        job = self.futures.pop(fut)
        exc = fut.exception()
        if isinstance(exc, SimtransferError):
            raise exc
        return job, exc if exc is not None else fut.result()

    def close(self) -> None:
        for fut in self.futures:
            fut.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayTasks(Backend):
    """Ray core tasks, one CPU each, on a local instance or a cluster."""

    def __init__(self, fn: JobFn, cfg_dict: dict[str, Any]) -> None:
        import ray

        self.ray, self.cfg_dict = ray, cfg_dict
        self.remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        self.pending: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self.pending[self.remote.remote(self.cfg_dict, asdict(job))] = job

    def wait(self) -> tuple[Job, dict[str, Any] | BaseException]:
        done, _ = self.ray.wait(list(self.pending), num_returns=1)
        job = self.pending.pop(done[0])
        try:
            return job, self.ray.get(done[0])
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            if isinstance(cause, SimtransferError):
                raise SimtransferError(str(cause)) from None
            return job, cause

    def close(self) -> None:
        for ref in self.pending:
            self.ray.cancel(ref, force=True)


def quiet_worker() -> None:
    """Pool workers die with the driver and print nothing to stdout: pybullet's C-level chatter
    (``argv[0]=`` on every connect) would bury the driver's progress lines. Python output goes to stderr."""
    if sys.platform.startswith("linux"):  # die with the driver: no orphan still writing into the results

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = sys.stderr


def start_ray(address: str, workers: int) -> bool:
    """Connect to (or, for ``local``, start) Ray; True when this call started it (so we shut it down)."""
    try:
        import ray
    except ImportError:
        raise SimtransferError("Ray is not installed: pip install 'simtransfer[ray]'") from None
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except ConnectionError as exc:
        raise SimtransferError(f"cannot connect to Ray at '{address}': {str(exc).splitlines()[0]}") from None
    except ValueError as exc:  # e.g. "Ray Client requires pip package `ray[client]`" for a ray:// address
        hint = " (pip install 'simtransfer[ray]' installs ray[client])" if "ray[client]" in str(exc) else ""
        raise SimtransferError(f"cannot connect to Ray at '{address}': {str(exc).splitlines()[0]}{hint}") from None
    return True


def stop_ray(started: bool) -> None:
    """Shut down the Ray instance :func:`start_ray` started (``started``); a connection we reused stays."""
    if started:
        import ray

        ray.shutdown()
