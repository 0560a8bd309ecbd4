"""RARL: the disturbance wrappers push the named links, the alternation trains both players, resumes, and leaves
an ordinary protagonist run (evaluate, transfer, export) plus the adversary's own run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml

from simtransfer.agents.config import load_train_config, resolve_train_config
from simtransfer.envs.adversary import AdversaryControl, AdversaryForce
from simtransfer.envs.errors import SimtransferError

IDP = "simtransfer/InvertedDoublePendulumNominal-v0"
FAST_PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


def rarl_config(algo: str = "ppo", total: int = 512, **adversary: Any):
    hp = FAST_PPO if algo == "ppo" else {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32,
                                         "train_freq": 16, "gradient_steps": 1}
    adv = {"links": ["pole2"], "max_force": 5.0, "force_axes": ["x", "z"], "protagonist_steps": 128,
           "adversary_steps": 128, "hyperparams": FAST_PPO, "net_arch": [16]} | adversary
    raw = {"env": IDP, "algo": algo, "seed": 0, "total_timesteps": total, "n_envs": 1, "normalize": algo == "ppo",
           "hyperparams": hp, "policy": {"net_arch": [16, 16]}, "eval": {"every": 256, "episodes": 2},
           "checkpoint_every": 256, "progress": False, "tracking": {"mode": "disabled"}, "adversary": adv}
    return resolve_train_config(raw, use_defaults=False)


def _roll(env: gym.Env, steps: int = 15) -> tuple[np.ndarray, list[dict[str, Any]]]:
    env.reset(seed=3)
    infos = []
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
        infos.append(info)
        if terminated or truncated:
            break
    return obs, infos


def test_adversary_force_pushes_the_named_link_and_is_a_no_op_without_an_adversary():
    plain, _ = _roll(gym.make(IDP))
    idle = AdversaryForce(gym.make(IDP), links=["cart"], max_force=20.0, force_axes=["x"])
    same, infos = _roll(idle)
    np.testing.assert_array_equal(same, plain)  # no adversary set: the env as it was
    assert all("disturbance" not in i for i in infos)
    pushed = AdversaryForce(gym.make(IDP), links=["cart"], max_force=20.0, force_axes=["x"])
    pushed.set_adversary(lambda obs: np.array([3.0]))  # clipped to 1, scaled by max_force
    moved, infos = _roll(pushed, steps=5)
    assert infos[0]["disturbance"].tolist() == [20.0]
    assert moved[1] > plain[1] + 0.01  # the cart velocity follows the push along +x


def test_adversary_control_acts_with_the_protagonist_and_negates_its_reward():
    seen: list[np.ndarray] = []

    def protagonist(obs: np.ndarray) -> np.ndarray:
        seen.append(obs)
        return np.zeros(1, np.float32)

    env = AdversaryControl(gym.make(IDP), links=["pole", "pole2"], max_force=5.0, max_torque=1.0,
                           force_axes=["x", "z"], torque_axes=["y"])
    assert env.action_space.shape == (6,) and env.action_space.high.max() == 1.0
    env.set_protagonist(protagonist)
    obs, _ = env.reset(seed=0)
    _, reward, _, _, info = env.step(np.ones(6, np.float32))
    assert reward == -info["protagonist_reward"] and info["protagonist_reward"] > 0
    assert info["disturbance"].tolist() == [5.0, 5.0, 1.0, 5.0, 5.0, 1.0]
    np.testing.assert_array_equal(seen[0], obs)  # the protagonist acts on the observation before the step


def test_unknown_link_is_a_one_line_error_naming_the_links():
    env = AdversaryForce(gym.make(IDP), links=["pole3"], max_force=1.0)
    with pytest.raises(SimtransferError, match=r"adversary_force links: no link named .pole3. .*links: .*pole2") as info:
        env.reset(seed=0)
    assert "\n" not in str(info.value)


def test_training_with_an_unknown_link_fails_before_writing_anything(tmp_path):
    from simtransfer.agents.train import train

    run = tmp_path / "run"
    with pytest.raises(SimtransferError, match="no link named 'pole3'") as info:
        train(rarl_config(links=["pole3"]), run)
    assert "\n" not in str(info.value)
    assert not run.exists() or not any(p.name != ".lock" for p in run.iterdir())


@pytest.mark.parametrize("key,value", [("max_force", 0), ("max_force", -2.0), ("max_torque", 0.0),
                                       ("links", []), ("protagonist_steps", 0)])
def test_bad_adversary_bounds_are_one_line_validation_errors(tmp_path, key, value):
    path = tmp_path / "c.yaml"
    adv = {"links": ["pole2"], "max_force": 5.0, key: value}
    path.write_text(yaml.safe_dump({"env": IDP, "adversary": adv}))
    with pytest.raises(SimtransferError, match=rf"c\.yaml: adversary\.{key}: ") as info:
        load_train_config(path)
    assert "\n" not in str(info.value)


def test_bad_wrapper_bounds_are_errors():
    with pytest.raises(SimtransferError, match="must be > 0"):
        AdversaryForce(gym.make(IDP), links=["pole2"], max_force=0.0)
    with pytest.raises(SimtransferError, match="distinct axes"):
        AdversaryControl(gym.make(IDP), links=["pole2"], force_axes=["x", "w"])


@pytest.fixture(scope="module")
def rarl_run(tmp_path_factory) -> Path:
    from simtransfer.agents.train import train

    run = tmp_path_factory.mktemp("rarl") / "run"
    train(rarl_config(), run)
    return run


def test_rarl_alternates_and_saves_the_adversary_as_a_run(rarl_run):
    from simtransfer.agents.policy_io import load_policy

    meta = json.loads((rarl_run / "adversary" / "metadata.json").read_text())
    assert meta["rarl"]["phases"] == 3  # at 128, 256, 384 protagonist steps (none after the last one)
    assert meta["num_timesteps"] == 3 * 128
    adversary = load_policy(rarl_run / "adversary")  # safetensors + metadata, like any run
    assert adversary.model.action_space.shape == (2,)
    assert (rarl_run / "adversary" / "policy.safetensors").is_file()
    rows = (rarl_run / "progress.csv").read_text().splitlines()
    assert "rarl/phases" in rows[0]


def test_rarl_protagonist_is_an_ordinary_run_for_evaluate_transfer_and_export(rarl_run, tmp_path):
    from simtransfer.agents.export import export_run
    from simtransfer.agents.export.runtime import ExportedPolicy
    from simtransfer.agents.policy_io import load_policy
    from simtransfer.experiments.evaluate import evaluate_run
    from simtransfer.transfer.api import transfer

    res = evaluate_run(rarl_run, "simtransfer/InvertedDoublePendulumExtrap-v0", episodes=2, seed=0)
    assert res.episodes == 2 and res.mean_return > 0
    out = transfer(rarl_run, "simtransfer/InvertedDoublePendulumExtrap-v0", "finetune", timesteps=128,
                   out_dir=tmp_path / "ft", quiet=True)
    assert out is not None
    ft_cfg = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert "adversary" not in ft_cfg  # the target is trained on without the source's adversary
    assert not (tmp_path / "ft" / "adversary").exists()
    policy = load_policy(rarl_run)
    export_run(policy, "onnx", tmp_path / "p.onnx")
    obs, _ = gym.make(IDP).reset(seed=0)
    exported = ExportedPolicy(tmp_path / "p.onnx").act(obs)
    np.testing.assert_allclose(exported, policy.predict(obs, deterministic=True)[0], atol=1e-5)


def test_rarl_resume_continues_the_alternation(tmp_path):
    from simtransfer.agents.train import train

    run = tmp_path / "run"
    train(rarl_config(total=256), run)
    first = json.loads((run / "adversary" / "metadata.json").read_text())
    assert first["rarl"]["phases"] == 1
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["total_timesteps"] = 512
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "metadata.json").unlink()
    train(None, run, resume=True)
    meta = json.loads((run / "adversary" / "metadata.json").read_text())
    # restored: phase 1 and its 128 adversary steps carry on (a fresh adversary would count 2 phases, 256 steps)
    assert meta["rarl"]["phases"] == 3 and meta["num_timesteps"] == 3 * 128
    train(rarl_config(total=256), run, force=True)  # --force clears the adversary's directory too
    assert json.loads((run / "adversary" / "metadata.json").read_text())["rarl"]["phases"] == 1
    assert sorted(p.name for p in (run / "adversary" / "checkpoints").iterdir()) == ["step_000000256.safetensors"]


def test_rarl_with_a_sac_protagonist(tmp_path):
    from simtransfer.agents.train import train

    result = train(rarl_config("sac", total=256), tmp_path / "sac")
    meta = json.loads((tmp_path / "sac" / "adversary" / "metadata.json").read_text())
    assert result.num_timesteps == 256 and meta["rarl"]["phases"] == 1 and meta["algo"] == "ppo"


@pytest.mark.parametrize("task", ["inverted_double_pendulum", "hopper"])
def test_benchmark_configs_load_and_their_adversary_finds_its_links(task):
    from simtransfer.agents.rarl import adversary_env_spec
    from simtransfer.envs.spec import make_env

    root = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "adversarial"
    for method in ("nominal", "dr"):
        assert load_train_config(root / f"{task}_{method}.yaml").adversary is None
    cfg = load_train_config(root / f"{task}_rarl.yaml")
    env = make_env(adversary_env_spec(cfg))
    env.reset(seed=0)
    assert env.action_space.shape == (len(cfg.adversary.links) * len(cfg.adversary.force_axes),)
    env.close()
