"""A run directory is data, never code: hostile run directories, results and configs run nothing.

Each case plants, in one config field, the name of a module whose import writes a marker file and whose
callable writes another (the module is importable, as a package a user happens to have installed would be),
then runs a command on it and checks: non-zero exit, a one-line error, no marker. The planted ``config.yaml``
also gets a matching ``config_sha256``, as an attacker would write: the trust gate must hold on its own.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from simtransfer.experiments.cli import main
from simtransfer.experiments.config import resolve_train_config
from simtransfer.experiments.train import train

PAYLOAD = "planted_payload"
PLANTED = f"{PAYLOAD}:Evil"
REPO = Path(__file__).resolve().parents[2]

PAYLOAD_SOURCE = '''
from pathlib import Path
MARKERS = Path(__file__).parent / "markers"
MARKERS.mkdir(exist_ok=True)
(MARKERS / "imported").touch()

class Evil:
    def __init__(self, *args, **kwargs):
        (MARKERS / "called").touch()

def pipepager(*args, **kwargs):
    (MARKERS / "called").touch()
'''

ALIAS_BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
              + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi")))


class Pickled:
    """Unpickling this writes a marker: a planted pickle must never be loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    """A real, finished (tiny) run with checkpoints: CartPole PPO, 128 steps."""
    raw = {"env": "CartPole-v1", "algo": "ppo", "seed": 0, "total_timesteps": 128,
           "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}, "policy": {"net_arch": [8]},
           "eval": {"every": 0, "episodes": 1}, "checkpoint_every": 64, "progress": False,
           "tracking": {"mode": "disabled"}}
    out = tmp_path_factory.mktemp("clean") / "run"
    train(resolve_train_config(raw, use_defaults=False), out)
    return out


@pytest.fixture
def payload(tmp_path, monkeypatch) -> Path:
    """The planted module, importable for this test only; returns its marker folder."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / f"{PAYLOAD}.py").write_text(PAYLOAD_SOURCE)
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delenv("SIMTRANSFER_TRUST", raising=False)
    yield pkg / "markers"
    sys.modules.pop(PAYLOAD, None)


def hostile_copy(clean_run: Path, dest: Path, edit) -> Path:
    """A copy of ``clean_run`` whose config.yaml is edited by ``edit(raw)``, with a matching sha256."""
    shutil.copytree(clean_run, dest)
    raw = yaml.safe_load((dest / "config.yaml").read_text())
    edit(raw)
    text = yaml.safe_dump(raw, sort_keys=False)
    (dest / "config.yaml").write_text(text)
    meta = json.loads((dest / "metadata.json").read_text())
    meta["config_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def plant_pickles(run: Path, marker: Path) -> None:
    """SB3 zip, VecNormalize pickle and a checkpoint-looking pickle that would run code if unpickled."""
    blob = pickle.dumps(Pickled(marker))
    with zipfile.ZipFile(run / "model.zip", "w") as z:
        z.writestr("data", json.dumps({"policy_class": {":serialized:": blob.hex()}}))
        z.writestr("pytorch_variables.pth", blob)
        z.writestr("policy.pth", blob)
    (run / "vecnormalize.pkl").write_bytes(blob)
    (run / "checkpoints" / "model.pkl").write_bytes(blob)


def set_field(raw: dict, field: str) -> None:
    value = {"type": PLANTED, "kwargs": {"cmd": "true"}}
    if field == "adapters":
        raw["adapters"] = [value]
    elif field == "env.wrappers":
        raw["env"] = {"id": "CartPole-v1", "wrappers": [value]}
    elif field == "env.id":
        raw["env"] = {"id": PLANTED}
    elif field == "eval.targets":
        raw.setdefault("eval", {})["targets"] = [{"id": PLANTED}]
    else:  # policy.*
        raw["policy"][field.split(".", 1)[1]] = PLANTED


FIELDS = ["adapters", "env.wrappers", "env.id", "policy.policy_class", "policy.activation_fn",
          "policy.features_extractor_class", "eval.targets"]


def assert_no_code_ran(markers: Path) -> None:
    assert not (markers / "imported").exists() and not (markers / "called").exists()
    assert not (markers.parent.parent / "pickle-ran").exists()


def assert_refused(code: int, capsys, markers: Path) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith("simtransfer: error:") and "--trust planted_payload" in err[-1], err
    assert_no_code_ran(markers)


# the fields each command builds objects from; the others it never reads (evaluate scores --target, transfer
# moves the run to its --target without the run's eval targets), so it must simply succeed without them
USED = {"evaluate": {"adapters", "policy.policy_class", "policy.activation_fn", "policy.features_extractor_class"},
        "transfer": {"adapters", "policy.policy_class", "policy.activation_fn", "policy.features_extractor_class"},
        "resume": set(FIELDS)}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("command", ["evaluate", "transfer", "resume"])
def test_planted_callable_runs_no_code(clean_run, payload, tmp_path, capsys, field, command):
    run = hostile_copy(clean_run, tmp_path / "hostile", lambda raw: set_field(raw, field))
    plant_pickles(run, tmp_path / "pickle-ran")
    if command == "resume":  # an unfinished run: only checkpoints
        for name in ("policy.safetensors", "metadata.json", "eval.json"):
            (run / name).unlink()
    argv = {"evaluate": ["evaluate", str(run), "--target", "CartPole-v1", "--episodes", "1"],
            "transfer": ["transfer", str(run), "--target", "CartPole-v1", "--method", "finetune",
                         "--timesteps", "64", "--out", str(tmp_path / "out")],
            "resume": ["train", "--resume", str(run)]}[command]
    code = main(argv)
    if field in USED[command]:
        assert_refused(code, capsys, payload)
    else:
        assert code == 0, capsys.readouterr().err
        assert_no_code_ran(payload)


def test_trusting_the_module_lets_it_run(clean_run, payload, tmp_path, capsys):
    """The opt-in is real: with --trust the same planted adapter is imported and called."""
    run = hostile_copy(clean_run, tmp_path / "hostile", lambda raw: set_field(raw, "adapters"))
    code = main(["evaluate", str(run), "--target", "CartPole-v1", "--episodes", "1", "--trust", PAYLOAD])
    assert code != 0  # Evil is no wrapper: the evaluation itself fails, after the call
    assert (payload / "imported").exists() and (payload / "called").exists()


def test_run_with_planted_experiment_and_results(payload, tmp_path, capsys):
    """A downloaded experiment naming planted code as a method or a target, and a planted experiment.yaml in a
    results directory being re-run, run nothing."""
    exp = {"name": "hostile", "source": {"config": str(REPO / "experiments/configs/inverted_pendulum.yaml"),
                                         "timesteps": 64},
           "targets": [{"name": "t", "env": PLANTED}], "methods": ["finetune"], "seeds": 1,
           "budget": {"timesteps": 64}, "tracking": "disabled"}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    assert_refused(main(["run", str(path), "--out", str(tmp_path / "res1")]), capsys, payload)
    exp["targets"] = [{"name": "t", "env": "simtransfer/InvertedPendulumExtrap-v0"}]
    exp["methods"] = [{"method": PLANTED, "label": "evil"}]
    path.write_text(yaml.safe_dump(exp))
    assert_refused(main(["run", str(path), "--out", str(tmp_path / "res2")]), capsys, payload)


@pytest.mark.parametrize("where", ["config.yaml", "experiment.yaml", "results experiment.yaml", "randomization",
                                   "report", "source.set"])
def test_alias_bomb_is_refused_quickly(clean_run, tmp_path, capsys, where):
    """About 1 KB that expands to 10^9 nodes: one line, in seconds, instead of exhausting memory."""
    t0 = time.perf_counter()
    if where == "config.yaml":
        run = tmp_path / "bomb"
        shutil.copytree(clean_run, run)
        text = (run / "config.yaml").read_text() + ALIAS_BOMB.replace("a: &a", "zz_bomb_a: &a")
        (run / "config.yaml").write_text(text)
        meta = json.loads((run / "metadata.json").read_text())  # an attacker writes the matching sha256
        meta["config_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        (run / "metadata.json").write_text(json.dumps(meta))
        code = main(["evaluate", str(run), "--target", "CartPole-v1", "--episodes", "1"])
    elif where == "experiment.yaml":
        path = tmp_path / "exp.yaml"
        path.write_text("name: bomb\n" + ALIAS_BOMB)
        code = main(["run", str(path), "--out", str(tmp_path / "res")])
    elif where == "results experiment.yaml":  # re-running into a downloaded results directory
        res = tmp_path / "res"
        res.mkdir()
        (res / "experiment.yaml").write_text(ALIAS_BOMB)
        exp = tmp_path / "exp.yaml"
        exp.write_text(yaml.safe_dump({"name": "x", "source": {"config": str(REPO / "experiments/configs/cartpole.yaml")},
                                       "targets": [{"name": "t", "env": "CartPole-v1"}], "methods": ["zeroshot"]}))
        code = main(["run", str(exp), "--out", str(res)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "holds results of a different experiment" in err[0], err
        assert time.perf_counter() - t0 < 30
        return
    elif where == "source.set":  # a bomb in a string an experiment's `set:` list parses as YAML
        exp = tmp_path / "exp.yaml"
        exp.write_text(yaml.safe_dump({"name": "x", "targets": [{"name": "t", "env": "CartPole-v1"}],
                                       "methods": ["zeroshot"], "tracking": "disabled",
                                       "source": {"config": str(REPO / "experiments/configs/cartpole.yaml"),
                                                  "set": ["policy.kwargs=" + "{" + ALIAS_BOMB.replace("\n", ", ") + "}"]}}))
        code = main(["run", str(exp), "--out", str(tmp_path / "res")])
    elif where == "report":  # a downloaded results directory
        res = tmp_path / "res"
        shutil.copytree(clean_run, res / "cells" / "t" / "finetune" / "seed0")
        (res / "cells" / "t" / "finetune" / "seed0" / "cell.json").write_text('{"status": "done"}')
        (res / "experiment.yaml").write_text(ALIAS_BOMB)
        code = main(["report", str(res), "--no-plots"])
    else:
        bomb = tmp_path / "rand.yaml"
        bomb.write_text(ALIAS_BOMB)
        spec = tmp_path / "target.yaml"
        spec.write_text(yaml.safe_dump({"id": "simtransfer/InvertedPendulum-v0", "randomization": str(bomb)}))
        code = main(["evaluate", str(clean_run), "--target", str(spec), "--episodes", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "expands to more than" in err[0], err
    assert time.perf_counter() - t0 < 30


def test_modified_config_fails_the_integrity_check(clean_run, tmp_path, capsys):
    run = tmp_path / "edited"
    shutil.copytree(clean_run, run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("seed: 0", "seed: 1"))
    assert main(["evaluate", str(run), "--target", "CartPole-v1", "--episodes", "1"]) == 2
    assert "does not match the sha256" in capsys.readouterr().err
