"""Safe handling of output directories: advisory locks, ``--force`` clearing, disk-full errors.

* :func:`locked` holds ``DIR/.lock`` (``filelock``) for a whole command; a second simtransfer process on
  the same directory fails at once with a one-line error. Re-entrant within one process.
* :func:`check_clearable` / :func:`clear_run_dir`: ``--force`` only clears a directory that looks like a
  run directory written by simtransfer, never one holding foreign files or a source run.
* :func:`disk_errors` turns ENOSPC / EDQUOT / EROFS into ``simtransfer: error: disk full while writing X``.

>>> from simtransfer.agents.rundirs import locked
>>> with locked("runs/ip"):                                      # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from simtransfer.envs.errors import SimtransferError

LOCK = ".lock"
# what simtransfer writes into a run directory (train, transfer, the experiment runner)
RUN_FILES = frozenset({"config.yaml", "metadata.json", "progress.csv", "eval.json", "policy.safetensors",
                       "model.zip", "checkpoints", "wandb", "transfer_report.json", "cell.json", "job.json",
                       "adr_ranges.png", "adversary", LOCK})  # adversary/: a RARL run's adversary (agents/rarl.py)
_TEMP = re.compile(r"^(\..+\.tmp\d*|\.model\.tmp\.zip|(cell|job)\.tmp)$")
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}

_held: dict[Path, list] = {}  # resolved dir -> [FileLock, depth]


@contextlib.contextmanager
def locked(directory: str | Path) -> Iterator[Path]:
    """Hold ``directory/.lock`` (creating the directory) until the block ends; fail at once when another
    process holds it. A directory this call created and that is left empty is removed again."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise SimtransferError(f"output path {d} exists and is not a directory")
    key = d.resolve()
    if key in _held:  # this process already holds it (train inside transfer, a job inside run)
        _held[key][1] += 1
        try:
            yield d
        finally:
            _held[key][1] -= 1
        return
    created = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(d / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise SimtransferError(f"{d} is in use by another simtransfer process (lock file {d / LOCK})") from None
    _held[key] = [lock, 1]
    try:
        yield d
    finally:
        del _held[key]
        lock.release()
        if created and [p.name for p in d.iterdir()] == [LOCK]:
            with contextlib.suppress(OSError):
                (d / LOCK).unlink()
                d.rmdir()


def foreign_entries(run_dir: Path) -> list[str]:
    """Names in ``run_dir`` that simtransfer does not write into a run directory."""
    return sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_FILES and not _TEMP.match(p.name))


def is_empty(run_dir: Path) -> bool:
    return not run_dir.is_dir() or all(p.name == LOCK for p in run_dir.iterdir())


def check_clearable(run_dir: Path, protect: Iterable[Path] = ()) -> None:
    """One-line error unless ``--force`` may clear ``run_dir``: it must not be or contain a protected path
    (a source run) and must hold only what simtransfer writes into a run directory."""
    if not run_dir.is_dir() or is_empty(run_dir):
        return
    target = run_dir.resolve()
    for p in protect:
        src = Path(p).resolve()
        if src == target or target in src.parents:
            raise SimtransferError(f"--force would delete {run_dir}, which contains source run {p}: pick another --out")
    foreign = foreign_entries(run_dir)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise SimtransferError(f"--force refuses to clear {run_dir}: it is not a simtransfer run directory "
                               f"(it holds {shown}); pick another --out")


def clear_run_dir(run_dir: Path) -> None:
    """Delete what simtransfer wrote in ``run_dir`` (after :func:`check_clearable`); keeps the lock file."""
    for child in run_dir.iterdir():
        if child.name == LOCK or (child.name not in RUN_FILES and not _TEMP.match(child.name)):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def remove_temp_files(run_dir: Path) -> None:
    """Delete temp files a killed writer left in ``run_dir`` and its checkpoints (call with the lock held)."""
    for d in (run_dir, run_dir / "checkpoints"):
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and _TEMP.match(p.name):
                    p.unlink(missing_ok=True)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def disk_full_error(exc: OSError) -> SimtransferError:
    what = exc.filename or "output"
    reason = {errno.EROFS: "read-only file system", errno.EDQUOT: "disk quota exceeded"}.get(exc.errno or 0)
    return SimtransferError(f"disk full while writing {what}" + (f" ({reason})" if reason else ""))


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """Turn a full disk (ENOSPC, EDQUOT, EROFS) anywhere in the block into one :class:`SimtransferError`."""
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full_error(exc) from None
    except Exception as exc:  # a writer that wrapped the OSError (logging, SB3, W&B)
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not is_disk_full(cause):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise disk_full_error(cause) from None  # type: ignore[arg-type]
