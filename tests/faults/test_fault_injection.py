"""Fault injection: SIGKILL at seeded points, concurrent invocations, a full disk; then check the results.

Each faulty command runs in a forked child (the parent already imported torch/SB3, so a child starts in
milliseconds). A kill point is drawn from a seeded RNG: the N-th atomic write (just before or just after its
``os.replace``) or the N-th vec-env step; the child SIGKILLs itself there. The run is then continued the way a
user would (``--resume``, ``transfer --resume``, re-running ``run``; a run killed before its first checkpoint
is restarted with ``--force``) and checked: config unchanged, progress.csv strictly increasing, weights load
with the sha256 in metadata.json. Counts go to ``$SIMTRANSFER_FAULTS_JSON`` when set.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing as mp
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simtransfer.agents.logs import read_rows
from tests.agents.runs import tiny_config, write_config

pytestmark = pytest.mark.faults

COUNTS = {"faults_injected": 0, "kills": 0, "lock_conflicts": 0, "disk_full": 0, "runs_checked": 0,
          "runs_lost": 0, "cells_checked": 0, "cells_corrupted": 0}
WRITES, STEPS = 20, 300  # ranges the kill points are drawn from (tiny runs make about this many)


@pytest.fixture(scope="module", autouse=True)
def _publish_counts():
    yield
    path = os.environ.get("SIMTRANSFER_FAULTS_JSON")
    if path:
        Path(path).write_text(json.dumps(COUNTS, indent=2) + "\n")


# ----------------------------------------------------------------------------------------- children
def _arm(point: tuple[str, int] | None) -> None:
    """In the child: SIGKILL this process at ``point`` = (phase, n)."""
    if point is None:
        return
    phase, n = point
    seen = {"n": 0}

    def hit() -> bool:
        seen["n"] += 1
        return seen["n"] == n

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if phase in ("write-before", "write-after"):
        real = os.replace

        def replace(src, dst, *a, **k):
            fire = hit()
            if fire and phase == "write-before":
                die()
            real(src, dst, *a, **k)
            if fire:
                die()

        os.replace = replace
    else:
        from stable_baselines3.common.vec_env import DummyVecEnv

        real_step = DummyVecEnv.step_wait

        def step_wait(self):
            if hit():
                die()
            return real_step(self)

        DummyVecEnv.step_wait = step_wait


def _child(argv: list[str], point: tuple[str, int] | None) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _arm(point)
    from simtransfer.experiments.cli import main

    os._exit(main(argv))


def _start(argv: list[str], point: tuple[str, int] | None = None) -> mp.Process:
    proc = mp.get_context("fork").Process(target=_child, args=(argv, point))
    proc.start()
    return proc


def cli(argv: list[str], point: tuple[str, int] | None = None) -> int:
    """Exit code of ``simtransfer ARGV`` in a child; -9 when the injected kill fired."""
    proc = _start(argv, point)
    proc.join(120)
    if proc.exitcode == -signal.SIGKILL:
        COUNTS["faults_injected"] += 1
        COUNTS["kills"] += 1
    return proc.exitcode


def kill_point(rng: random.Random) -> tuple[str, int]:
    phase = rng.choice(["write-before", "write-after", "step"])
    return phase, rng.randint(1, STEPS if phase == "step" else WRITES)


# ----------------------------------------------------------------------------------------- checks
def run_problems(run: Path, config_yaml: bytes | None = None) -> list[str]:
    """What is wrong with a finished run directory (empty: complete and consistent)."""
    from simtransfer.agents.policy_io import read_weights

    problems = []
    try:
        meta = json.loads((run / "metadata.json").read_text())
        cfg = (run / "config.yaml").read_bytes()
        data = (run / "policy.safetensors").read_bytes()
        read_weights(run / "policy.safetensors", meta["weights_sha256"])
    except Exception as exc:  # noqa: BLE001 - any failure to read back is a problem to count
        return [f"{type(exc).__name__}: {exc}"]
    if config_yaml is not None and cfg != config_yaml:
        problems.append("config.yaml changed")
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        problems.append("sha256 mismatch")
    header, rows = read_rows(run / "progress.csv")
    steps = [float(r[header.index("time/total_timesteps")]) for r in rows]
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        problems.append(f"progress.csv timesteps not strictly increasing: {steps}")
    if steps and steps[-1] != meta["num_timesteps"]:
        problems.append(f"progress.csv ends at {steps[-1]}, metadata at {meta['num_timesteps']}")
    return problems


def recover(run: Path, resume: list[str], restart: list[str]) -> None:
    """Continue a killed run: --resume, or restart with --force when it died before its first checkpoint."""
    if not list((run / "checkpoints").glob("step_*")) and not (run / "metadata.json").is_file():
        assert cli(restart) == 0
    else:
        assert cli(resume) == 0


def count_run(problems: list[str]) -> None:
    COUNTS["runs_checked"] += 1
    COUNTS["runs_lost"] += bool(problems)
    assert not problems, problems


def _train_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "c.yaml", total_timesteps=256, checkpoint_every=64, eval={"every": 64,
                                                                                           "episodes": 1})


# ----------------------------------------------------------------------------------------- SIGKILL
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_train_killed_twice_then_resumed_is_complete(tmp_path, seed):
    rng = random.Random(seed)
    cfg, run = _train_config(tmp_path), tmp_path / "run"
    start = ["train", str(cfg), "--out", str(run)]
    cli(start, kill_point(rng))
    original = (run / "config.yaml").read_bytes() if (run / "config.yaml").is_file() else None
    if original is not None and (list((run / "checkpoints").glob("step_*")) or (run / "metadata.json").is_file()):
        cli(["train", "--resume", str(run)], kill_point(rng))
    recover(run, ["train", "--resume", str(run)], start + ["--force"])
    original = original or (run / "config.yaml").read_bytes()
    count_run(run_problems(run, original))
    assert json.loads((run / "metadata.json").read_text())["num_timesteps"] == 256


@pytest.mark.parametrize("seed", [3, 4])
def test_transfer_killed_then_transfer_resume_is_complete(tmp_path, seed):
    from simtransfer.experiments.train import train

    rng = random.Random(seed)
    src = tmp_path / "src"
    train(tiny_config("ppo", total_timesteps=64), src)
    out = tmp_path / "freeze"
    start = ["transfer", str(src), "--target", "CartPole-v1", "--method", "freeze", "--freeze", "pi.0",
             "--out", str(out), "--timesteps", "256"]
    cli(start, kill_point(rng))
    recover(out, ["transfer", "--resume", str(out)], start + ["--force"])
    count_run(run_problems(out))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["lineage"]["method"] == "freeze" and meta["num_timesteps"] == 256
    assert json.loads((out / "transfer_report.json").read_text())["frozen"]


def _experiment(tmp_path: Path) -> Path:
    import yaml

    src = tiny_config("ppo", total_timesteps=128).model_dump(mode="json")
    exp = {"name": "faults", "source": {"config": src}, "targets": [{"env": "CartPole-v1", "name": "cp"}],
           "methods": ["finetune"], "seeds": 1, "tracking": "disabled",
           "budget": {"timesteps": 128, "eval_every": 64, "eval_episodes": 1, "final_episodes": 1,
                      "random_episodes": 1}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def cell_problems(out: Path, exp: Path) -> dict[str, list[str]]:
    """Per planned job: what is wrong with it after the experiment finished."""
    from simtransfer.experiments.experiment import load_experiment
    from simtransfer.experiments.fingerprints import fingerprint
    from simtransfer.experiments.runner import is_done, iter_jobs

    cfg = load_experiment(exp)
    found: dict[str, list[str]] = {}
    for job in iter_jobs(cfg, out):
        problems = [] if is_done(job, fingerprint(cfg, job)) else ["not done"]
        if job.kind != "random" and not problems:
            problems += run_problems(Path(job.out_dir))
        found[job.title] = problems
    return found


@pytest.mark.parametrize("seed", [5, 6])
def test_run_killed_then_rerun_has_no_corrupted_cell(tmp_path, seed):
    rng = random.Random(seed)
    exp, out = _experiment(tmp_path), tmp_path / "out"
    argv = ["run", str(exp), "--out", str(out), "--no-report"]
    cli(argv, kill_point(rng))
    assert cli(argv) == 0
    problems = cell_problems(out, exp)
    COUNTS["cells_checked"] += len(problems)
    COUNTS["cells_corrupted"] += sum(bool(p) for p in problems.values())
    assert not any(problems.values()), problems


# ----------------------------------------------------------------------------------------- concurrency
def _wait_for(cond: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("command", ["train", "run"])
def test_second_concurrent_invocation_is_refused_and_the_first_completes(tmp_path, capsys, command):
    from simtransfer.experiments.cli import main

    if command == "train":
        out = tmp_path / "run"
        argv = ["train", str(_train_config(tmp_path)), "--out", str(out)]
        busy = out / "progress.csv"
    else:
        out = tmp_path / "out"
        argv = ["run", str(_experiment(tmp_path)), "--out", str(out), "--no-report"]
        busy = out / "experiment.yaml"
    first = _start(argv)
    _wait_for(lambda: busy.is_file() or first.exitcode is not None)
    before = sorted(p.name for p in out.iterdir())
    assert first.exitcode is None, "the first invocation finished before the second started"
    capsys.readouterr()
    assert main(argv) == 2
    COUNTS["faults_injected"] += 1
    COUNTS["lock_conflicts"] += 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"simtransfer: error: {out} is in use by another simtransfer process (lock file {out}/.lock)"
    assert set(before) <= {p.name for p in out.iterdir()}
    first.join(120)
    assert first.exitcode == 0
    if command == "train":
        count_run(run_problems(out))
    else:
        problems = cell_problems(out, tmp_path / "exp.yaml")
        COUNTS["cells_checked"] += len(problems)
        COUNTS["cells_corrupted"] += sum(bool(p) for p in problems.values())
        assert not any(problems.values()), problems


# ----------------------------------------------------------------------------------------- full disk
@pytest.mark.parametrize("command", ["train", "run"])
def test_full_disk_is_one_line_and_earlier_results_survive(tmp_path, capsys, monkeypatch, command):
    import simtransfer.agents.policy_io as policy_io
    from simtransfer.experiments.cli import main

    exp = _experiment(tmp_path)
    run, out = tmp_path / "run", tmp_path / "out"
    if command == "train":
        assert main(["train", str(_train_config(tmp_path)), "--out", str(run)]) == 0
        argv = ["train", "--resume", str(run), "--set", "total_timesteps=512", "--allow-config-change"]
        keep = run
    else:
        assert main(["run", str(exp), "--out", str(out), "--no-report", "--workers", "1"]) == 0
        import yaml

        raw = yaml.safe_load(exp.read_text())
        raw["methods"] = ["finetune", {"method": "freeze", "options": {"layers": ["pi.0"]}}]
        exp.write_text(yaml.safe_dump(raw))
        argv = ["run", str(exp), "--out", str(out), "--no-report", "--force"]
        keep = out / "sources"
    before = {p: p.read_bytes() for p in keep.rglob("*") if p.is_file() and p.name != ".lock"}
    real_fsync, seen = policy_io.os.fsync, {"n": 0}

    def full(fd):  # the disk fills up at the third write of the command
        seen["n"] += 1
        if seen["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(policy_io.os, "fsync", full)
    capsys.readouterr()
    code = main(argv)
    monkeypatch.undo()
    COUNTS["faults_injected"] += 1
    COUNTS["disk_full"] += 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "Traceback" in line]
    assert code == 2 and errors == [lines[-1]] and lines[-1].startswith("simtransfer: error: disk full while writing ")
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    after = {p: p.read_bytes() for p in keep.rglob("*") if p.is_file() and p.name != ".lock"}
    if command == "train":  # earlier checkpoints, weights, model and metadata are intact; then it continues
        results = [p for p in before if "checkpoints" in p.parts or p.suffix in (".safetensors", ".zip")
                   or p.name == "metadata.json"]
        assert {p: after.get(p) for p in results} == {p: before[p] for p in results}
        assert main(["train", "--resume", str(run)]) == 0  # space freed: the run goes on from its checkpoint
        count_run(run_problems(run))
    else:
        assert after == before  # the finished sources were not touched
        assert main(argv) == 0
        problems = cell_problems(out, exp)
        COUNTS["cells_checked"] += len(problems)
        COUNTS["cells_corrupted"] += sum(bool(p) for p in problems.values())
        assert not any(problems.values()), problems
