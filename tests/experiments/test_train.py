"""train(): run directory contract, prepare_model seam, overwrite rules, determinism, resume, W&B."""

from __future__ import annotations

import json
import sys
import types

import pytest
import yaml

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.config import load_train_config
from simtransfer.experiments.train import train
from tests.agents.runs import NAN_ENV, tiny_config


def test_run_directory_contract(tmp_path):
    cfg = tiny_config("ppo", eval={"targets": [{"id": "CartPole-v1", "name": "cp", "kwargs": {"max_episode_steps": 50}}]})
    result = train(cfg, tmp_path / "run")
    run = tmp_path / "run"
    assert load_train_config(run / "config.yaml", use_defaults=False) == cfg
    ev = json.loads((run / "eval.json").read_text())
    assert set(ev["curves"]) == {"train", "cp"} and set(ev["final"]) == {"train", "cp"}
    assert ev["curves"]["train"]["timesteps"] == [64, 128]
    assert len(ev["curves"]["cp"]["mean_return"]) == 2 and len(ev["curves"]["cp"]["std_return"]) == 2
    final = ev["final"]["cp"]
    assert final["episodes"] == 2 and len(final["returns"]) == 2 and max(final["returns"]) <= 50
    assert result.final["cp"].mean_return == pytest.approx(final["mean_return"])
    meta = json.loads((run / "metadata.json").read_text())
    for key in ("observation_space", "action_space", "network", "normalization", "randomization", "versions", "git",
                "weights_sha256", "algo", "policy"):
        assert key in meta, key
    assert meta["versions"]["stable-baselines3"] and meta["observation_space"]["shape"] == [4]
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    assert "time/total_timesteps" in header and "eval/train/mean_return" in header
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000000064.safetensors",
                                                                     "step_000000128.safetensors"]


def test_prepare_model_runs_once_before_learning(tmp_path):
    calls = []

    def prepare(model, vec_env):
        calls.append((model.num_timesteps, vec_env.num_envs))
        for p in model.policy.mlp_extractor.policy_net.parameters():  # freeze a block, as transfer methods do
            p.requires_grad_(False)
        calls.append({k: v.clone() for k, v in model.policy.mlp_extractor.policy_net.state_dict().items()})

    train(tiny_config("ppo"), tmp_path / "run", prepare_model=prepare,
          extra_metadata={"lineage": {"source": "x", "method": "freeze"}})
    assert calls[0] == (0, 1) and len(calls) == 2
    from simtransfer.agents.policy_io import load_policy

    loaded = load_policy(tmp_path / "run")
    for k, v in calls[1].items():  # frozen weights unchanged by learning
        assert (loaded.model.policy.mlp_extractor.policy_net.state_dict()[k] == v).all()
    assert loaded.metadata["lineage"] == {"source": "x", "method": "freeze"}


def test_refuses_non_empty_dir_unless_forced(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep")
    with pytest.raises(SimtransferError, match="not empty"):
        train(tiny_config("ppo"), run)
    assert (run / "precious.txt").read_text() == "keep"
    with pytest.raises(SimtransferError):  # bad env: fails before --force clears anything
        train(tiny_config("ppo", env="NoSuchEnv-v9"), run, force=True)
    assert (run / "precious.txt").exists()
    with pytest.raises(SimtransferError, match="not a simtransfer run directory"):  # --force: never foreign files
        train(tiny_config("ppo"), run, force=True)
    assert (run / "precious.txt").read_text() == "keep"
    (run / "precious.txt").unlink()
    train(tiny_config("ppo", total_timesteps=64), run)
    train(tiny_config("ppo"), run, force=True)  # a run directory simtransfer wrote is cleared and rewritten
    assert json.loads((run / "metadata.json").read_text())["num_timesteps"] == 128


def test_same_config_and_seed_give_identical_evaluations(tmp_path):
    cfg = tiny_config("ppo", normalize=True, total_timesteps=192)
    a = json.loads((train(cfg, tmp_path / "a").run_dir / "eval.json").read_text())
    b = json.loads((train(cfg, tmp_path / "b").run_dir / "eval.json").read_text())
    assert a == b
    c = json.loads((train(tiny_config("ppo", normalize=True, total_timesteps=192, seed=1), tmp_path / "c")
                    .run_dir / "eval.json").read_text())
    assert c["curves"] != a["curves"]


def test_resume_of_a_run_killed_after_its_last_checkpoint_finishes_it(tmp_path):
    """Killed during the final evaluation: nothing is left to learn, the final evaluation and files still come."""
    run = tmp_path / "run"
    train(tiny_config("ppo", total_timesteps=128), run)
    for name in ("eval.json", "model.zip", "metadata.json"):
        (run / name).unlink()
    result = train(None, run, resume=True)
    assert result.num_timesteps == 128 and "train" in result.final
    assert json.loads((run / "eval.json").read_text())["final"]["train"]["episodes"] > 0
    assert (run / "model.zip").is_file()


def test_resume_continues_from_latest_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(tiny_config("ppo", total_timesteps=128, normalize=True), run)
    ckpt_rows = (run / "progress.csv").read_text().splitlines()
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["total_timesteps"] = 192
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = train(None, run, resume=True)
    assert result.num_timesteps == 192
    ev = json.loads((run / "eval.json").read_text())
    assert ev["curves"]["train"]["timesteps"] == [64, 128, 192]
    rows = (run / "progress.csv").read_text().splitlines()
    assert len(rows) > len(ckpt_rows) and rows[1] == ckpt_rows[1]
    train(tiny_config("ppo", checkpoint_every=0), tmp_path / "x")
    (tmp_path / "x" / "metadata.json").unlink()  # as if killed before the end (a finished run is left as is)
    with pytest.raises(SimtransferError, match="no checkpoint"):
        train(None, tmp_path / "x", resume=True)


def test_wandb_offline_writes_into_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    train(tiny_config("ppo", tracking={"mode": "offline"}), tmp_path / "run")
    offline = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and any(offline[0].rglob("*.wandb"))


def test_wandb_failure_never_fails_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    broken = types.ModuleType("wandb")

    def init(**kwargs):
        raise RuntimeError("no network")

    broken.init = init
    monkeypatch.setitem(sys.modules, "wandb", broken)
    result = train(tiny_config("ppo"), tmp_path / "run")
    assert (result.run_dir / "policy.safetensors").is_file()
    assert "W&B init failed" in capsys.readouterr().err


def test_stop_at_ends_training_early(tmp_path):
    result = train(tiny_config("ppo", total_timesteps=512, eval={"stop_at": 0.0}), tmp_path / "run")
    assert result.stopped_early and result.num_timesteps == 64
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["curves"]["train"]["timesteps"] == [64]


@pytest.mark.usefixtures("trust_test_helpers")
def test_nan_observation_in_training_is_one_line_naming_env_and_step(tmp_path):
    with pytest.raises(SimtransferError, match=rf"^env '{NAN_ENV}' returned a non-finite observation \(NaN or inf\) "
                                               r"at step 3 of an episode$"):
        train(tiny_config("ppo", env=NAN_ENV), tmp_path / "run")
