"""W&B online without network: the first failed init switches the whole experiment to offline, once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from simtransfer.experiments.tracking import FALLBACK_ENV, FALLBACK_FILE, Tracker, share_offline_fallback
from tests.experiments.test_runner import tiny_experiment, write

FAKE = Path(__file__).with_name("fake_wandb")


@pytest.fixture
def no_network_wandb(tmp_path, monkeypatch):
    """``wandb`` replaced by tests/experiments/fake_wandb (here and in spawned workers); returns the call log."""
    log = tmp_path / "wandb_calls.txt"
    log.touch()
    monkeypatch.setenv("FAKE_WANDB_LOG", str(log))
    monkeypatch.delenv("WANDB_MODE", raising=False)  # restored after the test (the tracker sets it)
    monkeypatch.setenv(FALLBACK_ENV, "")  # likewise (share_offline_fallback sets it)
    spec = importlib.util.spec_from_file_location("wandb", FAKE / "wandb.py")
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.syspath_prepend(str(FAKE))  # spawned pool workers get this sys.path
    return log


def test_failed_online_init_switches_this_run_later_runs_and_other_processes_offline(tmp_path, no_network_wandb,
                                                                                   monkeypatch, capsys):
    share_offline_fallback(tmp_path)
    first = Tracker(mode="online")
    first.start(tmp_path / "a", {}, name="a")
    first.log({"x": 1.0}, step=0)
    first.finish()  # written offline
    assert no_network_wandb.read_text().split() == ["online", "offline"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "W&B online failed (CommError" in err[0] and "offline" in err[0]
    assert (tmp_path / FALLBACK_FILE).is_file()
    Tracker(mode="online").start(tmp_path / "b", {}, name="b")  # this process: WANDB_MODE=offline
    monkeypatch.delenv("WANDB_MODE")  # another process of the experiment: only the marker file tells it
    other = Tracker(mode="online")
    assert other.mode == "offline"
    other.start(tmp_path / "c", {}, name="c")
    other.finish()
    assert no_network_wandb.read_text().split().count("online") == 1
    assert capsys.readouterr().err == ""
    share_offline_fallback(tmp_path)  # a new invocation (network may be back) tries online again
    assert Tracker(mode="online").mode == "online"


@pytest.mark.parametrize("workers", [1, 2])
def test_experiment_waits_for_online_wandb_once(tmp_path, no_network_wandb, capfd, workers):
    """The source job's online init fails; no later job (in-process or in a pool worker) nor the report
    calls init online again, and there is one warning line."""
    exp = tiny_experiment(methods=["zeroshot"], tracking="online")
    summary = run_experiment_quietly(write(tmp_path, exp), tmp_path / "out", workers)
    assert not summary.failed
    calls = no_network_wandb.read_text().split()
    assert calls[0] == "online" and calls.count("online") == 1 and len(calls) >= 3, calls
    assert capfd.readouterr().err.count("W&B online failed") == 1  # capfd: pool workers write to fd 2
    assert (tmp_path / "out" / FALLBACK_FILE).is_file()


def run_experiment_quietly(path: Path, out: Path, workers: int):
    from simtransfer.experiments.runner import run_experiment

    return run_experiment(path, out, workers=workers, log=lambda msg: None)
