"""The source zoo: `zoo:FAMILY/KIND/SEED` wherever a run directory is, sha256-checked, and every shipped source
reproducing the nominal return recorded when it was packed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from simtransfer.agents.zoo import DEFAULT_DIR, add_entry, read_manifest, resolve_zoo
from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.cli import main
from simtransfer.experiments.evaluate import evaluate_run
from simtransfer.experiments.experiment import parse_experiment
from simtransfer.experiments.runner import run_experiment
from simtransfer.experiments.train import train
from simtransfer.transfer.source import SourceRun
from tests.agents.runs import tiny_config

REPO = Path(__file__).resolve().parents[2]
PEND = "simtransfer/InvertedPendulumNominal-v0"


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory) -> Path:
    """A one-entry zoo (``pend/nominal/0``) packed from a tiny InvertedPendulum run."""
    base = tmp_path_factory.mktemp("zoo")
    cfg = tiny_config("ppo", env=PEND, total_timesteps=256, normalize=True, eval={"every": 0, "episodes": 1})
    run = train(cfg, base / "run").run_dir
    add_entry(base / "zoo", "pend/nominal/0", run, {"env": PEND, "nominal_target": PEND, "family": "pend"})
    return base / "zoo"


@pytest.fixture
def zoo(zoo_root, tmp_path, monkeypatch) -> Path:
    """A private copy of the zoo (tests may tamper with it), made the one ``zoo:`` resolves to."""
    root = tmp_path / "zoo"
    shutil.copytree(zoo_root, root)
    monkeypatch.setenv("SIMTRANSFER_ZOO", str(root))
    return root


def test_zoo_source_is_accepted_where_a_run_directory_is(zoo, capsys):
    entry = resolve_zoo("zoo:pend/nominal/0")
    assert entry == (zoo / "pend/nominal/0").resolve()
    direct = evaluate_run(entry, PEND, episodes=1, seed=3)
    assert evaluate_run("zoo:pend/nominal/0", PEND, episodes=1, seed=3).returns == direct.returns
    src = SourceRun.load("zoo:pend/nominal/0")
    assert src.sha256 == read_manifest(zoo)["entries"]["pend/nominal/0"]["files"]["policy.safetensors"]
    assert main(["evaluate", "zoo:pend/nominal/0", "--target", PEND, "--episodes", "1", "--seed", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["returns"] == direct.returns


def test_unknown_zoo_entry_is_one_line_listing_the_zoo(zoo, capsys):
    assert main(["evaluate", "zoo:pend/adr/0", "--target", PEND]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown zoo source 'zoo:pend/adr/0'" in err and "pend/nominal/{0}" in err
    for bad in ("zoo:pend/nominal", "zoo:pend/nominal/x", "zoo:"):
        with pytest.raises(SimtransferError, match="malformed zoo source"):
            resolve_zoo(bad)


@pytest.mark.parametrize("name", ["policy.safetensors", "config.yaml", "zoo.json"])
def test_tampered_zoo_file_is_refused(zoo, name, capsys):
    path = zoo / "pend/nominal/0" / name
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SimtransferError, match=f"{name} does not match the sha256 in the zoo manifest"):
        resolve_zoo("zoo:pend/nominal/0")
    assert main(["transfer", "zoo:pend/nominal/0", "--target", PEND, "--method", "zeroshot",
                 "--out", str(zoo.parent / "t")]) == 2
    assert "sha256" in capsys.readouterr().err and not (zoo.parent / "t").exists()


def test_missing_or_corrupt_manifest(zoo):
    (zoo / "manifest.json").write_text("{\"format\": \"other\"}")
    with pytest.raises(SimtransferError, match="corrupt"):
        resolve_zoo("zoo:pend/nominal/0")
    (zoo / "manifest.json").unlink()
    with pytest.raises(SimtransferError, match="manifest.json is missing"):
        resolve_zoo("zoo:pend/nominal/0")


def test_experiment_source_from_the_zoo_is_copied_not_trained(zoo, tmp_path):
    exp = {"name": "zoo-src", "source": "zoo:pend/nominal",
           "targets": [{"name": "extrap", "env": "simtransfer/InvertedPendulumExtrap-v0"}],
           "methods": ["zeroshot"], "seeds": 1,
           "budget": {"timesteps": 128, "eval_every": 64, "eval_episodes": 1, "final_episodes": 1,
                      "random_episodes": 1}, "tracking": "disabled"}
    summary = run_experiment(parse_experiment(exp), tmp_path / "out", report=False, log=lambda m: None)
    assert not summary.failed
    src = tmp_path / "out/sources/seed0"
    entry = zoo / "pend/nominal/0"
    assert (src / "policy.safetensors").read_bytes() == (entry / "policy.safetensors").read_bytes()
    assert not (src / "checkpoints").exists()  # copied, not trained
    with pytest.raises(SimtransferError, match="'set' and 'timesteps' do not apply"):
        parse_experiment({**exp, "source": {"zoo": "pend/nominal", "timesteps": 10}})
    with pytest.raises(SimtransferError, match="either 'config'"):
        parse_experiment({**exp, "source": {"zoo": "pend/nominal", "config": "x.yaml"}})
    with pytest.raises(SimtransferError, match="unknown zoo source 'zoo:pend/nominal/1'"):
        run_experiment(parse_experiment({**exp, "seeds": [1]}), tmp_path / "out1", report=False, log=lambda m: None)


# ------------------------------------------------------------------------------------ the shipped zoo
SHIPPED = read_manifest(DEFAULT_DIR)["entries"] if (DEFAULT_DIR / "manifest.json").is_file() else {}


def test_shipped_zoo_is_data_only():
    assert SHIPPED, "experiments/zoo/manifest.json lists no entries"
    names = {n for e in SHIPPED.values() for n in e["files"]}
    assert names == {"config.yaml", "metadata.json", "policy.safetensors", "eval.json", "zoo.json"}
    for key in SHIPPED:
        assert sorted(p.name for p in (DEFAULT_DIR / key).iterdir()) == sorted(SHIPPED[key]["files"])


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_shipped_source_reproduces_its_recorded_nominal_return(key, monkeypatch):
    """Deterministic policy, seeded resets: on the machine that packed it the return is bit-identical. Another
    CPU or BLAS can round the network's sums differently and a chaotic rollout can drift, so the tolerance is
    5% of the recorded return + 1 (far below the gap between a competent and a failed source)."""
    monkeypatch.delenv("SIMTRANSFER_ZOO", raising=False)
    info = json.loads((resolve_zoo(f"zoo:{key}") / "zoo.json").read_text())
    check = info["check"]
    config = yaml.safe_load((DEFAULT_DIR / key / "config.yaml").read_text())
    assert check["target"] == SHIPPED[key]["nominal_target"] and config["seed"] == info["seed"]
    res = evaluate_run(f"zoo:{key}", check["target"], episodes=check["episodes"], seed=check["seed"])
    assert res.mean_return == pytest.approx(check["mean_return"], abs=0.05 * abs(check["mean_return"]) + 1.0)


@pytest.mark.parametrize("path", sorted((REPO / "experiments/configs/zoo").glob("*.yaml")), ids=lambda p: p.stem)
def test_zoo_training_configs_validate(path):
    from simtransfer.experiments.config import load_train_config

    cfg = load_train_config(path)
    family = path.stem.rpartition("_")[0]
    assert cfg.eval.targets and cfg.eval.targets[0].id.endswith("Nominal-v0"), "the nominal target comes first"
    assert family in {"pendulum", "double_pendulum", "reacher", "hopper"}


def test_tuning_experiments_use_the_zoo():
    from simtransfer.experiments.experiment import load_experiment

    for path in sorted((REPO / "experiments/configs/tuned").glob("*_tune.yaml")):
        cfg = load_experiment(path)
        assert cfg.source.zoo is not None, path


def test_tuned_settings_are_valid_method_entries():
    """experiments/configs/tuned/<family>.yaml (written by bench_zoo.py tune) plugs into the family's suite file."""
    from simtransfer.transfer.methods import get_method

    for path in sorted((REPO / "experiments/configs/tuned").glob("*.yaml")):
        if path.stem.endswith("_tune"):
            continue
        methods = yaml.safe_load(path.read_text())["methods"]
        suite = yaml.safe_load((REPO / f"experiments/configs/suite/{path.stem}.yaml").read_text())
        cfg = parse_experiment({**suite, "methods": [*suite["methods"], *methods]},
                               base_dir=REPO / "experiments/configs/suite")
        for m in methods:
            get_method(m["method"]).parse_options(m["options"])
            assert m["label"] in [x.label for x in cfg.all_methods()]
