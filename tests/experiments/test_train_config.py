"""TrainConfig: override order, one-line errors naming key and file, shipped configs validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.config import (
    TrainConfig,
    algo_defaults,
    apply_overrides,
    field_reference,
    load_train_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"
TASKS = ["cartpole", "inverted_pendulum", "inverted_double_pendulum", "reacher", "hopper", "half_cheetah"]
TRAINING_CONFIGS = [CONFIGS / f"{t}{s}.yaml" for t in TASKS for s in ("", "_nominal")] + [
    CONFIGS / "inverted_pendulum_sac.yaml", CONFIGS / "cartpole_dqn.yaml"]


def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_override_order_defaults_then_file_then_set(tmp_path):
    defaults = algo_defaults("ppo", "simtransfer/InvertedPendulum-v0")
    assert defaults["hyperparams"]["n_steps"]
    p = _write(tmp_path, "env: simtransfer/InvertedPendulum-v0\nalgo: ppo\nhyperparams: {n_epochs: 3}\n")
    cfg = load_train_config(p)
    assert cfg.hyperparams["n_steps"] == defaults["hyperparams"]["n_steps"]  # from the defaults file
    assert cfg.hyperparams["n_epochs"] == 3  # the file beats the defaults
    assert cfg.normalize.enabled is defaults["normalize"]
    cfg = load_train_config(p, ["hyperparams.n_epochs=7", "eval.targets=[CartPole-v1]", "normalize=false"], seed=5)
    assert cfg.hyperparams["n_epochs"] == 7 and cfg.seed == 5 and not cfg.normalize.enabled
    assert cfg.eval.targets[0].id == "CartPole-v1"
    assert load_train_config(p, use_defaults=False).hyperparams == {"n_epochs": 3}


def test_set_values_are_yaml():
    out = apply_overrides({"a": {"b": 1}}, ["a.c=1e-3", "a.d=[1, 2]", "e=true", "f=text", "g="])
    assert out == {"a": {"b": 1, "c": "1e-3", "d": [1, 2]}, "e": True, "f": "text", "g": None}
    with pytest.raises(SimtransferError, match="bad --set"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(SimtransferError, match="not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_set_reaches_into_lists_by_index():
    raw = {"env": {"wrappers": [{"type": "a", "kwargs": {"t": 1}}, {"type": "b"}]}}
    out = apply_overrides(raw, ["env.wrappers.0.kwargs.t=5", "env.wrappers.1={type: c}"])
    assert out["env"]["wrappers"] == [{"type": "a", "kwargs": {"t": 5}}, {"type": "c"}]
    assert raw["env"]["wrappers"][0]["kwargs"]["t"] == 1  # the input is not changed
    with pytest.raises(SimtransferError, match="'2' is not an index of a 2-item list"):
        apply_overrides(raw, ["env.wrappers.2.type=x"])
    with pytest.raises(SimtransferError, match="'type' is not an index"):
        apply_overrides(raw, ["env.wrappers.type=x"])
    with pytest.raises(SimtransferError, match="'0' is not a mapping"):
        apply_overrides({"a": [1]}, ["a.0.b=2"])


@pytest.mark.parametrize("text,match", [
    ("env: CartPole-v1\nlearning_rate: 0.1\n", r"c\.yaml: learning_rate: unknown key"),
    ("env: CartPole-v1\neval: {evry: 5}\n", r"eval\.evry: unknown key"),
    ("env: CartPole-v1\nn_envs: many\n", r"n_envs: .*integer"),
    ("env: CartPole-v1\nn_envs: 0\n", r"n_envs: .*greater than or equal to 1"),
    ("env: CartPole-v1\nalgo: ppo2\n", r"algo: .*'ppo2'"),
    ("env: CartPole-v1\nhyperparams: {lr: 1}\n", r"hyperparams: unknown hyperparameter 'lr' for ppo"),
    ("env: CartPole-v1\ntracking: {mode: sometimes}\n", r"tracking\.mode"),
    ("algo: ppo\n", r"env: required key is missing"),
    ("- just\n- a list\n", r"expected a mapping"),
    ("env: [unclosed\n", r"malformed YAML in .*c\.yaml"),
])
def test_bad_config_is_one_line_error_naming_key_and_file(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(SimtransferError, match=match) as info:
        load_train_config(p)
    assert "\n" not in str(info.value)
    if "malformed" not in match:
        assert str(p) in str(info.value)


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    import gymnasium as gym

    from simtransfer import envs  # noqa: F401  (registers simtransfer ids)

    cfg = load_train_config(path)
    assert cfg.env.id in gym.registry, cfg.env.id
    assert ("Nominal" in cfg.env.id) == path.stem.endswith("_nominal")
    assert cfg.total_timesteps >= 10_000 and cfg.hyperparams
    for target in cfg.eval.targets:
        assert target.id in gym.registry


def test_every_field_is_documented():
    rows = field_reference(TrainConfig)
    assert len(rows) > 25
    assert all(desc for _, _, _, desc in rows)


def test_docs_reference_every_field():
    doc = (CONFIGS.parents[1] / "docs" / "training.md").read_text()
    for key, *_ in field_reference(TrainConfig):
        assert f"`{key}`" in doc, key


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs-run", "a/b", "..", "a\\b"])
def test_run_name_must_stay_under_runs(tmp_path, name):
    p = _write(tmp_path, "env: CartPole-v1\n")
    with pytest.raises(SimtransferError, match=r"c\.yaml: name: must be a plain directory name") as info:
        load_train_config(p, [f"name={name}"])
    assert "\n" not in str(info.value)
    assert load_train_config(p, ["name=my-run_2.v1"]).name == "my-run_2.v1"
